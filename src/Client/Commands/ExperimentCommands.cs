using System.CommandLine;
using System.Text.Json;
using PruneFuse.Grains.Interfaces;
using Spectre.Console;
using static PruneFuse.Client.Commands.Common;
using static PruneFuse.Client.Commands.Progress;

namespace PruneFuse.Client.Commands;

/// <summary><c>prunefuse experiment start|status|list|cancel|report|delete</c>.</summary>
public static class ExperimentCommands
{
    /// <summary>Every spec field as an option, defaulting to <see cref="ExperimentSpec"/>'s defaults.</summary>
    private sealed class SpecOptions
    {
        private static readonly ExperimentSpec D = new();
        public Option<string> Dataset { get; } = new("--dataset") { Description = "Dataset id", DefaultValueFactory = _ => D.DatasetId };
        public Option<string> Arch { get; } = new("--arch")
        {
            Description = $"Target network: a family's name, e.g. resnet20, resnet18, wrn-16-4, mobilenet_v2 (prunefuse arch list) [default: {D.Arch}]",
        };
        public Option<string> Stem { get; } = new("--stem") { Description = "imagenet (7×7 stride 2 + max pool) or small (3×3 stride 1, for 28-64 px) where the family has both [default: the family's]" };
        public Option<double> Dropout { get; } = new("--dropout") { Description = "Dropout probability inside the target's blocks (wrn-D-K only)", DefaultValueFactory = _ => D.Dropout };
        public Option<double> Width { get; } = new("--width-multiplier") { Description = "Width multiplier of the target's channels", DefaultValueFactory = _ => D.WidthMultiplier };
        public Option<SelectorKind> Selector { get; } = Named("--selector", "pruned (PruneFuse), dense, proxy (SVP) or random", D.Selector);
        public Option<double> Prune { get; } = new("--prune") { Description = "Pruning ratio p in [0, 1)", DefaultValueFactory = _ => D.PruneRatio };
        public Option<PruningMethod> Pruning { get; } = Named("--pruning", "Channel importance (random: ablation)", D.PruningMethod);
        public Option<string> Proxy { get; } = new("--proxy-arch") { Description = $"Proxy architecture for --selector proxy, any family [default: {D.ProxyArch}]" };
        public Option<Metric> Metric { get; } = Named("--metric", "Selection metric", D.Metric);
        public Option<int> Initial { get; } = new("--initial") { Description = "Random initial labeled set size", DefaultValueFactory = _ => D.InitialLabeled };
        public Option<int> RoundSize { get; } = new("--round-size") { Description = "Samples selected per round", DefaultValueFactory = _ => D.RoundSize };
        public Option<int> Rounds { get; } = new("--rounds") { Description = "Selection rounds", DefaultValueFactory = _ => D.Rounds };
        public Option<int> SelectorEpochs { get; } = new("--selector-epochs") { Description = "Selector training epochs per round", DefaultValueFactory = _ => D.SelectorEpochs };
        public Option<int> FinalEpochs { get; } = new("--final-epochs") { Description = "Final network training epochs", DefaultValueFactory = _ => D.FinalEpochs };
        public Option<bool> NoFusion { get; } = new("--no-fusion") { Description = "Train the target from θ0 instead of the fused weights" };
        public Option<double> Alpha { get; } = new("--kd-alpha") { Description = "Distillation weight α (0 = no distillation)", DefaultValueFactory = _ => D.DistillationAlpha };
        public Option<double> Temperature { get; } = new("--kd-temperature") { Description = "Distillation temperature T", DefaultValueFactory = _ => D.DistillationTemperature };
        public Option<double> Decay { get; } = new("--kd-decay")
        {
            Description = "Fraction of the final training over which α falls linearly to 0 (0 = constant α; 0.333 = the first third)",
            DefaultValueFactory = _ => D.DistillationDecay,
        };
        public Option<long> Seed { get; } = new("--seed") { Description = "Experiment seed", DefaultValueFactory = _ => D.Seed };
        public Option<int> Batch { get; } = new("--batch-size") { Description = "Training batch size", DefaultValueFactory = _ => D.BatchSize };
        public Option<LabelSource> LabelSource { get; } = Named("--label-source", "dataset (simulated annotator) or external (import labels each round)", D.LabelSource);
        public Option<bool> WarmStart { get; } = new("--selector-warm-start")
        {
            Description = "true: rounds after the first train the selector from the previous round's selector for --warm-epochs; false: from θ0 each round",
            DefaultValueFactory = _ => D.SelectorWarmStart,
        };
        public Option<int> WarmEpochs { get; } = new("--warm-epochs") { Description = "Epochs of a warm-started selector training", DefaultValueFactory = _ => D.WarmEpochs };
        public Option<FusionSource> FusionSource { get; } = Named("--fusion-source",
            "The selector fused into θ0: retrain (from θ0 on the final labeled set), warm (the last round's, --warm-epochs more), last-round (as is)", D.FusionSource);
        public Option<string> InitWeights { get; } = new("--init-weights")
        {
            Description = "θ0 from a state dict instead of the seed: a safetensors file or torch.save(model.state_dict()) (e.g. torchvision's pretrained weights), uploaded to the cluster; or sha256:HEX of one uploaded before",
        };
        public Option<string> Normalize { get; } = new("--normalize") { Description = "Input normalisation: dataset (the pool's statistics) or imagenet (for ImageNet weights) [default: dataset]" };
        public Option<bool> AllowNarrow { get; } = new("--allow-narrow") { Description = "Accept networks with fewer than 4 channels in a stage (they usually train at chance)" };

        public void AddTo(Command c)
        {
            foreach (var o in new Option[] { Dataset, Arch, Stem, Dropout, Width, Selector, Prune, Pruning, Proxy, Metric, Initial, RoundSize, Rounds, SelectorEpochs, FinalEpochs, NoFusion, Alpha, Temperature, Decay, Seed, Batch, LabelSource, WarmStart, WarmEpochs, FusionSource, InitWeights, Normalize, AllowNarrow })
            {
                c.Options.Add(o);
            }
        }

        // Named options have no default factory (see Common.Named): absent means the spec's default.
        private static T Get<T>(ParseResult p, Option<T> option, T fallback) => p.GetResult(option) is null ? fallback : p.GetValue(option)!;

        public ExperimentSpec Read(ParseResult p) => new()
        {
            DatasetId = p.GetValue(Dataset)!, Arch = p.GetValue(Arch) ?? D.Arch, Stem = p.GetValue(Stem), Dropout = p.GetValue(Dropout), WidthMultiplier = p.GetValue(Width), Selector = Get(p, Selector, D.Selector), PruneRatio = p.GetValue(Prune),
            PruningMethod = Get(p, Pruning, D.PruningMethod), ProxyArch = p.GetValue(Proxy) ?? D.ProxyArch, Metric = Get(p, Metric, D.Metric), InitialLabeled = p.GetValue(Initial),
            RoundSize = p.GetValue(RoundSize), Rounds = p.GetValue(Rounds), SelectorEpochs = p.GetValue(SelectorEpochs), FinalEpochs = p.GetValue(FinalEpochs),
            Fusion = !p.GetValue(NoFusion), DistillationAlpha = p.GetValue(Alpha), DistillationTemperature = p.GetValue(Temperature), DistillationDecay = p.GetValue(Decay), Seed = p.GetValue(Seed),
            BatchSize = p.GetValue(Batch), LabelSource = Get(p, LabelSource, D.LabelSource),
            SelectorWarmStart = p.GetValue(WarmStart), WarmEpochs = p.GetValue(WarmEpochs), FusionSource = Get(p, FusionSource, D.FusionSource), AllowNarrow = p.GetValue(AllowNarrow),
            Normalize = p.GetValue(Normalize)?.Trim().ToLowerInvariant(),
        };
    }

    /// <summary><c>experiment start|status|cancel|report</c>.</summary>
    public static Command Experiment()
    {
        var cmd = new Command("experiment", "Start and follow experiments");
        var specOptions = new SpecOptions();
        var startId = Id("Experiment id (" + Ids.Rule + ")");
        var start = new Command("start", "Validate a spec and start the experiment") { startId };
        specOptions.AddTo(start);
        start.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var spec = specOptions.Read(p);
            if (p.GetValue(specOptions.InitWeights) is { } weights) spec = spec with { InitialWeights = await WeightsUpload.UploadAsync(c, weights, json, ct) };
            var status = await c.GetGrain<ICoordinatorGrain>(p.GetValue(startId)!).Start(spec);
            // Plain lines, unwrapped: a note names a file digest or a layer that a reader may copy.
            if (!json) foreach (var note in status.Notes) Console.WriteLine("note: " + note);
            Print(json, Reports.Summary(status), $"started '{status.ExperimentId}': {Reports.Method(status.Spec!)}, budget {status.Spec!.Budget}. Follow it with: prunefuse experiment status --id {status.ExperimentId} --watch");
            return 0;
        }, ct));

        var statusId = Id("Experiment id");
        var watch = new Option<bool>("--watch") { Description = "Follow progress until the experiment ends" };
        var status = new Command("status", "Show an experiment's progress") { statusId, watch };
        status.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var id = p.GetValue(statusId)!;
            var st = p.GetValue(watch) ? await Follow(c, id, json, ct) : await c.GetGrain<ICoordinatorGrain>(id).GetStatus();
            if (st.State == ExperimentState.None) throw new ClientException($"unknown experiment '{id}'");
            if (json) Console.WriteLine(Reports.Summary(st).ToJsonString(Reports.JsonOut));
            else Reports.PrintTable(st);
            return st.State == ExperimentState.Failed ? 1 : 0;
        }, ct));

        var cancelId = Id("Experiment id");
        var cancel = new Command("cancel", "Cancel a running experiment") { cancelId };
        cancel.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var st = await c.GetGrain<ICoordinatorGrain>(p.GetValue(cancelId)!).Cancel();
            Print(json, Reports.Summary(st), $"cancelled '{st.ExperimentId}' after {Reports.Count(st.Rounds.Length, "round")} of {st.Spec?.Rounds ?? 0}");
            return 0;
        }, ct));

        var reportId = Id("Experiment id");
        var outDir = new Option<string>("--out") { Description = "Folder for the JSON and PNG", DefaultValueFactory = _ => "reports" };
        var html = new Option<bool>("--html") { Description = "Also write one self-contained HTML page (spec, rounds, learning curves, selection cost)" };
        var report = new Command("report", "Results table, learning-curve PNG and JSON (and an HTML page with --html)") { reportId, outDir, html };
        report.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var id = p.GetValue(reportId)!;
            var st = await c.GetGrain<ICoordinatorGrain>(id).GetStatus();
            if (st.State == ExperimentState.None) throw new ClientException($"unknown experiment '{id}'");
            var (jsonPath, png) = Reports.Save(st, p.GetValue(outDir)!);
            var page = p.GetValue(html) ? HtmlReport.Save(st, p.GetValue(outDir)!) : null;
            if (json)
            {
                var summary = Reports.Summary(st);
                summary["files"] = new System.Text.Json.Nodes.JsonArray([.. new[] { jsonPath, png, page }.OfType<string>().Select(f => (System.Text.Json.Nodes.JsonNode)f)]);
                Console.WriteLine(summary.ToJsonString(Reports.JsonOut));
            }
            else
            {
                Reports.PrintTable(st);
                Console.WriteLine($"saved {jsonPath}, {png}{(page is null ? "" : $" and {page}")}");
            }
            return 0;
        }, ct));
        var list = new Command("list", "List experiments and their state");
        list.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var all = await c.GetGrain<ICatalogGrain>(0).ListExperiments();
            if (json)
            {
                var experiments = new System.Text.Json.Nodes.JsonArray([.. all.OrderBy(e => e.StartedAt).Select(a => (System.Text.Json.Nodes.JsonNode)Reports.Summary(a))]);
                Console.WriteLine(new System.Text.Json.Nodes.JsonObject { ["experiments"] = experiments }.ToJsonString(Reports.JsonOut));
                return 0;
            }
            var t = new Table().AddColumns("experiment", "state", "method", "round", "labeled", "final accuracy");
            foreach (var e in all.OrderBy(e => e.StartedAt))
            {
                t.AddRow(Markup.Escape(e.ExperimentId), e.State.ToString().ToLowerInvariant(), Markup.Escape(e.Spec is null ? "" : Reports.Method(e.Spec)),
                    e.Round.ToString(), e.Labeled.ToString(), e.Final is { } f ? $"{f.Accuracy:P2}" : "-");
            }
            AnsiConsole.Write(t);
            return 0;
        }, ct));
        var deleteId = Id("Experiment id");
        var delete = new Command("delete", "Delete a finished, failed or cancelled experiment and its artifacts (its dataset is kept)") { deleteId };
        delete.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var d = await c.GetGrain<ICoordinatorGrain>(p.GetValue(deleteId)!).Delete();
            Print(json, d, $"deleted experiment '{d.Id}': {d.Artifacts} artifacts, {d.Bytes / 1e6:F1} MB");
            return 0;
        }, ct));
        foreach (var c in new[] { start, status, list, cancel, report, delete }) cmd.Subcommands.Add(c);
        return cmd;
    }
}

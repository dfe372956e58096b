using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using PruneFuse.Grains.Interfaces;
using Spectre.Console;

namespace PruneFuse.Client;

/// <summary>The console's command tree. Commands translate options into grain calls and present results; no logic of their own.</summary>
public static class Commands
{
    public static readonly Option<int> GatewayPort = new("--gateway-port")
    {
        Description = "Gateway port of a silo (env PRUNEFUSE_GATEWAY_PORT)",
        DefaultValueFactory = _ => int.TryParse(Environment.GetEnvironmentVariable("PRUNEFUSE_GATEWAY_PORT"), out var p) ? p : 30000,
        Recursive = true,
    };

    public static readonly Option<string> GatewayHost = new("--gateway-host")
    {
        Description = "Host of a silo's gateway (env PRUNEFUSE_GATEWAY_HOST)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("PRUNEFUSE_GATEWAY_HOST") is { Length: > 0 } h ? h : "127.0.0.1",
        Recursive = true,
    };
    public static readonly Option<bool> Json = new("--json") { Description = "Machine-readable output: the last line is one JSON object", Recursive = true };

    private static Option<string> Id(string description, string? fallback = null)
    {
        // The id may also come first, as a bare argument (PositionalIds rewrites it to --id).
        description += " (or give it first, without --id)";
        var option = fallback is null ? new Option<string>("--id") { Description = description, Required = true } : new Option<string>("--id") { Description = description, DefaultValueFactory = _ => fallback };
        return WithIdRule(option, description.StartsWith("Dataset", StringComparison.Ordinal) ? "dataset id" : "experiment id");
    }

    /// <summary>Checks an id option before anything is sent, so the error names the id instead of an Orleans key.</summary>
    internal static Option<string> WithIdRule(Option<string> option, string what)
    {
        option.Validators.Add(r =>
        {
            if (Ids.Problem(r.GetValueOrDefault<string>(), what) is { } problem) r.AddError(problem);
        });
        return option;
    }

    /// <summary>Exit code of a command interrupted by Ctrl+C (128 + SIGINT, as shells report it).</summary>
    public const int InterruptedExitCode = 130;

    /// <summary>
    /// Runs an action against a connected cluster with uniform error handling. The wait is bounded on every side:
    /// Ctrl+C ends it at once (exit 130), and a gateway that stops answering ends it within seconds (exit 1), even
    /// while a long grain call is still pending. Server-side work (an import) goes on without the console.
    /// </summary>
    internal static async Task<int> Run(ParseResult p, Func<IClusterClient, bool, Task<int>> action, CancellationToken ct)
    {
        var json = p.GetValue(Json);
        var (gatewayHost, gatewayPort) = (p.GetValue(GatewayHost)!, p.GetValue(GatewayPort));
        IHost? host = null;
        var stopHost = true;
        try
        {
            host = await ClusterConnection.ConnectAsync(gatewayHost, gatewayPort, ct);
            using var watching = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var work = action(host.Client(), json);
            var lost = ClusterConnection.WatchGatewayAsync(gatewayHost, gatewayPort, GatewayProbeInterval, 2, watching.Token);
            var interrupted = Task.Delay(Timeout.Infinite, ct);
            var first = await Task.WhenAny(work, lost, interrupted);
            watching.Cancel();
            if (first == work) return await work;
            // A call stuck on a vanished silo never returns: leave it and the client behind.
            stopHost = false;
            if (first == interrupted) return Interrupted();
            throw new ClientException($"lost the connection to the silo at {gatewayHost}:{gatewayPort} (it stopped or was killed); work it had accepted, such as an import, goes on when it runs again");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            stopHost = false;
            return Interrupted();
        }
        catch (Exception e)
        {
            // Every failure is one line (the first line of the message) and exit code 1; never a stack trace.
            var message = e.Message.Split('\n')[0];
            if (json) Console.WriteLine(JsonSerializer.Serialize(new { error = message }, Reports.JsonOut));
            else Console.Error.WriteLine($"error: {message}");
            return 1;
        }
        finally
        {
            if (host is not null && stopHost)
            {
                using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try { await host.StopAsync(stopping.Token); } catch (Exception) { /* leaving anyway */ }
                host.Dispose();
            }
        }

        int Interrupted()
        {
            if (json) Console.WriteLine(JsonSerializer.Serialize(new { error = "interrupted" }, Reports.JsonOut));
            else Console.Error.WriteLine("interrupted");
            return InterruptedExitCode;
        }
    }

    /// <summary>How often a running command checks that its gateway still accepts connections (two misses = lost).</summary>
    internal static readonly TimeSpan GatewayProbeInterval = TimeSpan.FromSeconds(2);

    /// <summary><c>dataset import|show</c>.</summary>
    public static Command Dataset()
    {
        var cmd = new Command("dataset", "Import and inspect datasets");
        var id = Id("Dataset id", "fashion-mnist");
        var data = new Option<string?>("--data") { Description = "Folder with Fashion-MNIST IDX files on the silo (default: Debian's dataset-fashion-mnist)" };
        var shards = new Option<int>("--shards") { Description = "Number of pool shards", DefaultValueFactory = _ => 4 };
        var limit = new Option<int>("--limit") { Description = "Use only the first N training images as the pool (0 = all)", DefaultValueFactory = _ => 0 };
        limit.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 0) r.AddError($"--limit must be 0 (all images) or a positive number of images, got {r.GetValueOrDefault<int>()}");
        });
        var from = new Option<string>("--from") { Description = "fashion-mnist (IDX files) or images (a folder: one sub-folder per class, or images only for an unlabeled pool)", DefaultValueFactory = _ => "fashion-mnist" };
        from.AcceptOnlyFromAmong("fashion-mnist", "images");
        var folder = new Argument<string?>("folder") { Description = "With --from images: the pool folder on the silo's machine", Arity = ArgumentArity.ZeroOrOne };
        var test = new Option<string?>("--test") { Description = "With --from images: a labeled test folder (default: hold out --test-fraction of a labeled pool)" };
        var testFraction = new Option<double>("--test-fraction") { Description = "With --from images and no --test: fraction of the pool held out for testing", DefaultValueFactory = _ => 0.2 };
        var channels = new Option<int>("--channels") { Description = "With --from images: 1 (grayscale) or 3 (RGB)", DefaultValueFactory = _ => 3 };
        var size = new Option<string>("--size") { Description = "With --from images: stored size HxW; every image is resized to it", DefaultValueFactory = _ => "32x32" };
        var skipBad = new Option<bool>("--skip-bad") { Description = "With --from images: leave unreadable images out (each reported by path) instead of refusing the import" };
        var seed = new Option<long>("--seed") { Description = "With --from images: seed of the held-out test split", DefaultValueFactory = _ => 0 };
        var import = new Command("import", "Import Fashion-MNIST or an image folder as pool shards plus a test shard") { id, from, folder, data, shards, limit, test, testFraction, channels, size, skipBad, seed };
        import.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var grain = c.GetGrain<IDatasetGrain>(p.GetValue(id)!);
            if (p.GetValue(from) == "images")
            {
                var dir = p.GetValue(folder) ?? p.GetValue(data) ?? throw new ClientException("--from images needs the pool folder: prunefuse dataset import --from images DIR");
                var (height, width) = ParseSize(p.GetValue(size)!);
                var request = new ImageImportRequest
                {
                    PoolDirectory = Path.GetFullPath(dir), TestDirectory = p.GetValue(test) is { } t ? Path.GetFullPath(t) : "", TestFraction = p.GetValue(testFraction),
                    Channels = p.GetValue(channels), Height = height, Width = width, Shards = p.GetValue(shards), SkipBad = p.GetValue(skipBad), Seed = p.GetValue(seed),
                };
                var result = await WithImportProgress(grain, grain.ImportImages(request), json, ct);
                foreach (var skipped in result.Skipped) Console.Error.WriteLine($"skipped unreadable image {skipped}");
                var d = result.Dataset;
                Print(json, result, $"{(result.AlreadyImported ? "already imported" : "imported")} '{d.DatasetId}' from images: {d.PoolSize} pool samples{(d.PoolLabeled ? "" : " (unlabeled)")} in {d.Shards} shards, " +
                    $"{d.TestSize} test samples, {d.Classes} classes ({string.Join(", ", d.ClassNames)}), shape {string.Join("×", d.Shape)}" +
                    $"{(result.Skipped.Length > 0 ? $", {result.Skipped.Length} unreadable images skipped" : "")}{(result.Ignored > 0 ? $", {result.Ignored} non-image files ignored" : "")}");
                return 0;
            }
            // The import runs in the silo: it goes on (and a repeated command waits for it) if this console leaves.
            var info = await WithImportProgress(grain, grain.ImportFashionMnist(p.GetValue(data) ?? p.GetValue(folder) ?? "", p.GetValue(shards), p.GetValue(limit)), json, ct);
            Print(json, info, $"imported '{info.DatasetId}': {info.PoolSize} pool samples in {info.Shards} shards, {info.TestSize} test samples");
            return 0;
        }, ct));
        var showId = Id("Dataset id", "fashion-mnist");
        var show = new Command("show", "Describe an imported dataset") { showId };
        show.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var info = await c.GetGrain<IDatasetGrain>(p.GetValue(showId)!).Describe();
            Print(json, info, $"'{info.DatasetId}': {info.PoolSize} pool samples in {info.Shards} shards, {info.TestSize} test samples, shape {string.Join("×", info.Shape)}, {info.Classes} classes");
            return 0;
        }, ct));
        var list = new Command("list", "List imported datasets");
        list.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var all = await c.GetGrain<ICatalogGrain>(0).ListDatasets();
            if (json)
            {
                Console.WriteLine(JsonSerializer.Serialize(all, Reports.JsonOut));
                return 0;
            }
            var t = new Table().AddColumns("dataset", "pool", "shards", "test", "shape", "classes");
            foreach (var d in all) t.AddRow(Markup.Escape(d.DatasetId), d.PoolSize.ToString(), d.Shards.ToString(), d.TestSize.ToString(), string.Join("×", d.Shape), d.Classes.ToString());
            AnsiConsole.Write(t);
            return 0;
        }, ct));
        cmd.Subcommands.Add(import);
        cmd.Subcommands.Add(show);
        cmd.Subcommands.Add(list);
        return cmd;
    }

    private static (int Height, int Width) ParseSize(string size)
    {
        var parts = size.ToLowerInvariant().Split('x');
        return parts.Length == 2 && int.TryParse(parts[0], out var h) && int.TryParse(parts[1], out var w)
            ? (h, w)
            : throw new ClientException($"--size must be HxW, e.g. 32x32; got '{size}'");
    }

    /// <summary>Shows the import's progress (a bar on a terminal, lines on stderr otherwise) until it finishes.</summary>
    private static async Task<T> WithImportProgress<T>(IDatasetGrain grain, Task<T> import, bool json, CancellationToken ct)
    {
        if (json || Console.IsOutputRedirected)
        {
            var last = "";
            while (!import.IsCompleted)
            {
                await Task.WhenAny(import, Task.Delay(2000, ct));
                if (import.IsCompleted) break;
                var pr = await grain.GetImportProgress();
                var line = pr.Total > 0 ? $"{pr.Stage}: {pr.Done:N0}/{pr.Total:N0}" : pr.Stage;
                if (line != last) Console.Error.WriteLine(line);
                last = line;
            }
            return await import;
        }
        await AnsiConsole.Progress().StartAsync(async ctx =>
        {
            var task = ctx.AddTask("importing", maxValue: 1);
            while (!import.IsCompleted)
            {
                await Task.WhenAny(import, Task.Delay(300, ct));
                var pr = await grain.GetImportProgress();
                task.Description = Markup.Escape(pr.Stage);
                if (pr.Total > 0)
                {
                    task.MaxValue = pr.Total;
                    task.Value = pr.Done;
                }
            }
            task.Value = task.MaxValue;
        });
        return await import;
    }

    private static void Print<T>(bool json, T value, string text)
    {
        if (json) Console.WriteLine(JsonSerializer.Serialize(value, Reports.JsonOut));
        else Console.WriteLine(text);
    }

    /// <summary>An enum option's value by its lower-case name (any case accepted); anything else is an error listing the names.</summary>
    private static T EnumValue<T>(System.CommandLine.Parsing.ArgumentResult r, string option, T fallback) where T : struct, Enum
    {
        if (r.Tokens.Count == 0) return fallback;
        var text = r.Tokens[^1].Value;
        if (!int.TryParse(text, out _) && Enum.TryParse<T>(text, ignoreCase: true, out var value)) return value;
        r.AddError($"{option} must be one of {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}, got '{text}'");
        return fallback;
    }

    /// <summary>Every spec field as an option, defaulting to <see cref="ExperimentSpec"/>'s defaults.</summary>
    private sealed class SpecOptions
    {
        private static readonly ExperimentSpec D = new();
        public Option<string> Dataset { get; } = new("--dataset") { Description = "Dataset id", DefaultValueFactory = _ => D.DatasetId };
        public Option<string> Arch { get; } = new("--arch") { Description = "Target network: resnet8/14/20/32/56/110", DefaultValueFactory = _ => D.Arch };
        public Option<double> Width { get; } = new("--width-multiplier") { Description = "Width multiplier of the target (stage widths 16/32/64 × m)", DefaultValueFactory = _ => D.WidthMultiplier };
        public Option<SelectorKind> Selector { get; } = new("--selector")
        {
            Description = "pruned (PruneFuse), dense, proxy (SVP) or random", DefaultValueFactory = _ => D.Selector,
            HelpName = string.Join("|", Enum.GetNames<SelectorKind>().Select(n => n.ToLowerInvariant())),
            CustomParser = r => EnumValue(r, "--selector", D.Selector),
        };
        public Option<double> Prune { get; } = new("--prune") { Description = "Pruning ratio p in [0, 1)", DefaultValueFactory = _ => D.PruneRatio };
        public Option<string> Pruning { get; } = new("--pruning") { Description = "Channel importance: l2 or random", DefaultValueFactory = _ => D.PruningMethod };
        public Option<string> Proxy { get; } = new("--proxy-arch") { Description = "Proxy architecture for --selector proxy", DefaultValueFactory = _ => D.ProxyArch };
        public Option<string> Metric { get; } = new("--metric") { Description = "least-confidence, entropy, margin, random, k-center", DefaultValueFactory = _ => D.Metric };
        public Option<int> Initial { get; } = new("--initial") { Description = "Random initial labeled set size", DefaultValueFactory = _ => D.InitialLabeled };
        public Option<int> RoundSize { get; } = new("--round-size") { Description = "Samples selected per round", DefaultValueFactory = _ => D.RoundSize };
        public Option<int> Rounds { get; } = new("--rounds") { Description = "Selection rounds", DefaultValueFactory = _ => D.Rounds };
        public Option<int> SelectorEpochs { get; } = new("--selector-epochs") { Description = "Selector training epochs per round", DefaultValueFactory = _ => D.SelectorEpochs };
        public Option<int> FinalEpochs { get; } = new("--final-epochs") { Description = "Final network training epochs", DefaultValueFactory = _ => D.FinalEpochs };
        public Option<bool> NoFusion { get; } = new("--no-fusion") { Description = "Train the target from θ0 instead of the fused weights" };
        public Option<double> Alpha { get; } = new("--kd-alpha") { Description = "Distillation weight α (0 = no distillation)", DefaultValueFactory = _ => D.DistillationAlpha };
        public Option<double> Temperature { get; } = new("--kd-temperature") { Description = "Distillation temperature T", DefaultValueFactory = _ => D.DistillationTemperature };
        public Option<long> Seed { get; } = new("--seed") { Description = "Experiment seed", DefaultValueFactory = _ => D.Seed };
        public Option<int> Batch { get; } = new("--batch-size") { Description = "Training batch size", DefaultValueFactory = _ => D.BatchSize };
        public Option<string> LabelSource { get; } = new("--label-source") { Description = "dataset (simulated annotator) or external (import labels each round)", DefaultValueFactory = _ => D.LabelSource };
        public Option<bool> AllowNarrow { get; } = new("--allow-narrow") { Description = "Accept networks with fewer than 4 channels in a stage (they usually train at chance)" };

        public void AddTo(Command c)
        {
            foreach (var o in new Option[] { Dataset, Arch, Width, Selector, Prune, Pruning, Proxy, Metric, Initial, RoundSize, Rounds, SelectorEpochs, FinalEpochs, NoFusion, Alpha, Temperature, Seed, Batch, LabelSource, AllowNarrow })
            {
                c.Options.Add(o);
            }
        }

        public ExperimentSpec Read(ParseResult p) => new()
        {
            DatasetId = p.GetValue(Dataset)!, Arch = p.GetValue(Arch)!, WidthMultiplier = p.GetValue(Width), Selector = p.GetValue(Selector), PruneRatio = p.GetValue(Prune),
            PruningMethod = p.GetValue(Pruning)!, ProxyArch = p.GetValue(Proxy)!, Metric = p.GetValue(Metric)!, InitialLabeled = p.GetValue(Initial),
            RoundSize = p.GetValue(RoundSize), Rounds = p.GetValue(Rounds), SelectorEpochs = p.GetValue(SelectorEpochs), FinalEpochs = p.GetValue(FinalEpochs),
            Fusion = !p.GetValue(NoFusion), DistillationAlpha = p.GetValue(Alpha), DistillationTemperature = p.GetValue(Temperature), Seed = p.GetValue(Seed),
            BatchSize = p.GetValue(Batch), LabelSource = p.GetValue(LabelSource)!, AllowNarrow = p.GetValue(AllowNarrow),
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
            var status = await c.GetGrain<ICoordinatorGrain>(p.GetValue(startId)!).Start(specOptions.Read(p));
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
                Console.WriteLine(new System.Text.Json.Nodes.JsonArray([.. all.Select(a => (System.Text.Json.Nodes.JsonNode)Reports.Summary(a))]).ToJsonString(Reports.JsonOut));
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
        foreach (var c in new[] { start, status, list, cancel, report }) cmd.Subcommands.Add(c);
        return cmd;
    }

    private static string Phase(ExperimentStatus st) =>
        st.Round == 0 ? "setup" : st.Round > st.Spec!.Rounds ? "final training" : $"round {st.Round}/{st.Spec.Rounds}";

    /// <summary><c>selections export</c>.</summary>
    public static Command Selections()
    {
        var id = Id("Experiment id");
        var round = new Option<int>("--round") { Description = "Round (0 = the random initial set)", Required = true };
        var format = new Option<string>("--format") { Description = "csv, jsonl or label-studio (tasks JSON plus a labeling config)", DefaultValueFactory = _ => "csv" };
        format.AcceptOnlyFromAmong("csv", "jsonl", "label-studio");
        var output = new Option<string>("--out") { Description = "File to write", Required = true };
        var images = new Option<string?>("--images") { Description = "label-studio: also write each selected image as <sample_id>.png into this folder" };
        var imageRoot = new Option<string?>("--image-root") { Description = "label-studio: URL prefix of the images (default /data/local-files/?d=<--images folder>/, Label Studio's local-files URL)" };
        var export = new Command("export", "Write a round's selection (sample id, shard, score, predicted class) for your labeling tool") { id, round, format, output, images, imageRoot };
        export.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var experiment = p.GetValue(id)!;
            var r = p.GetValue(round);
            var file = p.GetValue(output)!;
            var coordinator = c.GetGrain<ICoordinatorGrain>(experiment);
            var selection = await coordinator.GetSelection(r);
            string? config = null;
            if (p.GetValue(format) == "label-studio")
            {
                var st = await coordinator.GetStatus();
                var dataset = await c.GetGrain<IDatasetGrain>(st.Spec!.DatasetId).Describe();
                var names = ClassNames(dataset);
                var folder = p.GetValue(images);
                if (folder is not null)
                {
                    foreach (var chunk in selection.Chunk(1000))
                    {
                        LabelStudio.WritePngs(await c.GetGrain<IDatasetGrain>(dataset.DatasetId).GetSamples([.. chunk.Select(s => s.SampleId)]), folder);
                    }
                }
                var prefix = p.GetValue(imageRoot) ?? $"/data/local-files/?d={(folder ?? "images").Trim('/')}/";
                LabelStudio.WriteTasks(file, selection, experiment, r, st.Spec.Metric, names, sampleId => $"{prefix}{sampleId}.png");
                config = Path.ChangeExtension(file, ".label-config.xml");
                File.WriteAllText(config, LabelStudio.LabelConfig(names));
            }
            else
            {
                LabelFiles.WriteSelection(file, selection, p.GetValue(format)!);
            }
            Print(json, new { experiment, round = r, samples = selection.Length, file, labelConfig = config, images = p.GetValue(images) },
                $"wrote {selection.Length} samples of round {r} to {file}{(config is null ? "" : $" (labeling config: {config})")}");
            return 0;
        }, ct));
        var cmd = new Command("selections", "Export selections");
        cmd.Subcommands.Add(export);
        return cmd;
    }

    /// <summary><c>labels import</c>.</summary>
    public static Command Labels()
    {
        var id = Id("Experiment id");
        var round = new Option<int>("--round") { Description = "Round the labels belong to (0 = the initial set)", Required = true };
        var file = new Option<string>("--file") { Description = "CSV (sample_id,label), JSONL ({\"sampleId\",\"label\"}) or a Label Studio JSON export", Required = true };
        var format = new Option<string>("--format") { Description = "auto (by extension: .csv, .jsonl), csv, jsonl or label-studio", DefaultValueFactory = _ => "auto" };
        format.AcceptOnlyFromAmong("auto", "csv", "jsonl", "label-studio");
        var import = new Command("import", "Import labels for the round the experiment waits on; it then continues") { id, round, file, format };
        import.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var coordinator = c.GetGrain<ICoordinatorGrain>(p.GetValue(id)!);
            SampleLabel[] labels;
            if (p.GetValue(format) == "label-studio")
            {
                var spec = (await coordinator.GetStatus()).Spec ?? throw new ClientException($"unknown experiment '{p.GetValue(id)}'");
                labels = LabelStudio.ReadExport(p.GetValue(file)!, ClassNames(await c.GetGrain<IDatasetGrain>(spec.DatasetId).Describe()));
            }
            else
            {
                // Bounded by the round's selection: a huge or wrong file is refused here, before anything is sent.
                var selected = (await coordinator.GetSelection(p.GetValue(round))).Length;
                labels = LabelFiles.ReadLabels(p.GetValue(file)!, p.GetValue(format)!, selected);
            }
            var st = await coordinator.ImportLabels(p.GetValue(round), labels);
            Print(json, Reports.Summary(st), $"imported {labels.Length} labels for round {p.GetValue(round)}; '{st.ExperimentId}' continues");
            return 0;
        }, ct));
        var cmd = new Command("labels", "Import labels from an external annotator");
        cmd.Subcommands.Add(import);
        return cmd;
    }

    /// <summary><c>model export</c>.</summary>
    public static Command Model()
    {
        var id = WithIdRule(new Option<string>("--id", "--experiment") { Description = "Experiment id", Required = true }, "experiment id");
        var format = new Option<string>("--format") { Description = "pytorch (torch.load state dict) or safetensors", DefaultValueFactory = _ => "pytorch" };
        format.AcceptOnlyFromAmong("pytorch", "safetensors");
        var network = new Option<string>("--network") { Description = "final (the fused, trained target) or selector (the last trained selector)", DefaultValueFactory = _ => "final" };
        network.AcceptOnlyFromAmong("final", "selector");
        var output = new Option<string?>("--out") { Description = "Folder to write the weights and their JSON description (default: exports/<experiment>)" };
        var export = new Command("export", "Write a trained network as a PyTorch state dict plus a JSON of its architecture and widths") { id, format, network, output };
        export.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var experiment = p.GetValue(id)!;
            var model = await c.GetGrain<IModelExportGrain>(experiment).Export(p.GetValue(network)!, p.GetValue(format)!);
            var dir = p.GetValue(output) ?? Path.Combine("exports", experiment);
            Directory.CreateDirectory(dir);
            var weights = Path.Combine(dir, model.WeightsFile);
            var description = Path.Combine(dir, model.DescriptionFile);
            await File.WriteAllBytesAsync(weights, model.Weights, ct);
            await File.WriteAllTextAsync(description, model.Description, ct);
            Print(json, new { experiment, network = model.Network, format = p.GetValue(format), weights, description, bytes = model.Weights.Length, source = model.Source },
                $"wrote {weights} ({model.Weights.Length:N0} bytes) and {description}; load it in PyTorch with tools/python/prunefuse_model.py");
            return 0;
        }, ct));
        var cmd = new Command("model", "Take trained networks home");
        cmd.Subcommands.Add(export);
        return cmd;
    }

    // Datasets without names label their classes "0".."C-1", which is also what a labeling tool then shows.
    private static string[] ClassNames(DatasetInfo d) =>
        d.ClassNames.Length == d.Classes ? d.ClassNames : [.. Enumerable.Range(0, d.Classes).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];

    /// <summary>Polls an experiment until it ends, showing round, stage and labeled count.</summary>
    private static async Task<ExperimentStatus> Follow(IClusterClient c, string id, bool json, CancellationToken ct)
    {
        var grain = c.GetGrain<ICoordinatorGrain>(id);
        var st = await grain.GetStatus();
        if (st.State == ExperimentState.None) return st;
        if (json || Console.IsOutputRedirected)
        {
            var last = "";
            while (st.State == ExperimentState.Running && st.AwaitingLabelsRound is null)
            {
                var line = $"{Phase(st)}: {st.Stage} ({st.Labeled} labeled)";
                if (line != last) Console.Error.WriteLine(line);
                last = line;
                await Task.Delay(1000, ct);
                st = await grain.GetStatus();
            }
            return st;
        }
        await AnsiConsole.Status().StartAsync("starting", async ctx =>
        {
            while (st.State == ExperimentState.Running && st.AwaitingLabelsRound is null)
            {
                var lastRound = st.Rounds.LastOrDefault();
                var rate = lastRound is { ScoringSeconds: > 0 } ? $", last scoring {lastRound.Scored / lastRound.ScoringSeconds:N0} samples/s" : "";
                ctx.Status($"{Phase(st)}: {Markup.Escape(st.Stage)} — {st.Labeled} labeled{rate}");
                await Task.Delay(500, ct);
                st = await grain.GetStatus();
            }
        });
        return st;
    }

    /// <summary><c>demo [--quick]</c>: import Fashion-MNIST, run PruneFuse end to end, show and save results.</summary>
    public static Command Demo()
    {
        var quick = new Option<bool>("--quick") { Description = "A short run (a few minutes on 2 cores)" };
        var data = new Option<string?>("--data") { Description = "Folder with Fashion-MNIST IDX files (default: Debian's dataset-fashion-mnist)" };
        var outDir = new Option<string>("--out") { Description = "Folder for the JSON and PNG", DefaultValueFactory = _ => "reports" };
        var seed = new Option<long>("--seed") { Description = "Experiment seed", DefaultValueFactory = _ => 0 };
        var cmd = new Command("demo", "Run a PruneFuse experiment on Fashion-MNIST end to end on the embedded silo") { quick, data, outDir, seed };
        cmd.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var isQuick = p.GetValue(quick);
            var log = json ? Console.Error : Console.Out;
            log.WriteLine("dashboard: http://127.0.0.1:8080/dashboard");
            var dataset = await c.GetGrain<IDatasetGrain>("fashion-mnist").ImportFashionMnist(p.GetValue(data) ?? "", 4, 0);
            log.WriteLine($"dataset 'fashion-mnist': {dataset.PoolSize} pool images in {dataset.Shards} shards, {dataset.TestSize} test images");
            var spec = new ExperimentSpec
            {
                DatasetId = "fashion-mnist", Arch = "resnet20", Selector = SelectorKind.Pruned, PruneRatio = 0.5, Metric = "least-confidence",
                InitialLabeled = 1000, RoundSize = 1000, Rounds = isQuick ? 2 : 4, SelectorEpochs = isQuick ? 8 : 15, FinalEpochs = isQuick ? 10 : 30,
                Seed = p.GetValue(seed),
            };
            var id = $"demo-{(isQuick ? "quick" : "full")}-{DateTime.UtcNow:yyyyMMdd-HHmmss}";
            await c.GetGrain<ICoordinatorGrain>(id).Start(spec);
            log.WriteLine($"experiment '{id}': {Reports.Method(spec)}, {spec.Rounds} rounds of {spec.RoundSize}, budget {spec.Budget}");
            var st = await Follow(c, id, json, ct);
            var (jsonPath, png) = Reports.Save(st, p.GetValue(outDir)!);
            var page = HtmlReport.Save(st, p.GetValue(outDir)!);
            if (json)
            {
                Console.Error.WriteLine($"saved {jsonPath}, {png} and {page}");
                Console.WriteLine(Reports.Summary(st).ToJsonString(Reports.JsonOut));
            }
            else
            {
                Reports.PrintTable(st);
                Console.WriteLine($"saved {jsonPath}, {png} and {page}");
            }
            return st.State == ExperimentState.Completed ? 0 : 1;
        }, ct));
        return cmd;
    }
}

using System.CommandLine;
using System.Text.Json;
using PruneFuse.Grains.Interfaces;
using static PruneFuse.Client.Commands.Common;
using static PruneFuse.Client.Commands.Progress;

namespace PruneFuse.Client.Commands;

/// <summary><c>prunefuse demo</c>: the main job.</summary>
public static class DemoCommand
{
    /// <summary><c>demo [--quick]</c>: import Fashion-MNIST, run PruneFuse end to end, show and save results.</summary>
    public static Command Demo()
    {
        var quick = new Option<bool>("--quick") { Description = "A short run (a few minutes on 2 cores)" };
        var data = new Option<string?>("--data") { Description = "Folder with Fashion-MNIST IDX files (default: Debian's dataset-fashion-mnist)" };
        var outDir = new Option<string>("--out") { Description = "Folder for the JSON and PNG", DefaultValueFactory = _ => "reports" };
        var seed = new Option<long>("--seed") { Description = "Experiment seed", DefaultValueFactory = _ => 0 };
        var dataset = WithIdRule(new Option<string>("--dataset") { Description = "Dataset id to import Fashion-MNIST under (all 60,000 images, 4 shards) or reuse", DefaultValueFactory = _ => "fashion-mnist" }, "dataset id");
        var experiment = new Option<string>("--id") { Description = "Experiment id (default demo-quick-<UTC time> or demo-full-<UTC time>)", DefaultValueFactory = _ => "" };
        experiment.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string>() is { Length: > 0 } v && Ids.Problem(v, "experiment id") is { } problem) r.AddError(problem);
        });
        var cmd = new Command("demo", "Run a PruneFuse experiment on Fashion-MNIST end to end on the embedded silo") { quick, data, outDir, seed, dataset, experiment };
        cmd.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var isQuick = p.GetValue(quick);
            var log = json ? Console.Error : Console.Out;
            // The silo knows where its dashboard listens; this console only knows the gateway.
            if (await c.GetGrain<ICatalogGrain>(0).GetDashboardUrl() is { } dashboard)
            {
                log.WriteLine($"dashboard: {dashboard} (PruneFuse experiments: {dashboard[..^"dashboard".Length]}prunefuse)");
            }
            var datasetId = p.GetValue(dataset)!;
            var info = await c.GetGrain<IDatasetGrain>(datasetId).ImportFashionMnist(p.GetValue(data) ?? "", 4, 0);
            log.WriteLine($"dataset '{datasetId}': {info.PoolSize} pool images in {info.Shards} shards, {info.TestSize} test images{(info.AlreadyImported ? " (already imported)" : "")}");
            var spec = new ExperimentSpec
            {
                DatasetId = datasetId, Arch = ArchName.ResNet20, Selector = SelectorKind.Pruned, PruneRatio = 0.5, Metric = Metric.LeastConfidence,
                InitialLabeled = 1000, RoundSize = 1000, Rounds = isQuick ? 2 : 4, SelectorEpochs = isQuick ? 8 : 15, FinalEpochs = isQuick ? 10 : 30,
                Seed = p.GetValue(seed),
            };
            var id = p.GetValue(experiment) is { Length: > 0 } chosen ? chosen : $"demo-{(isQuick ? "quick" : "full")}-{DateTime.UtcNow:yyyyMMdd-HHmmss}";
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

using PruneFuse.Grains.Interfaces;
using Spectre.Console;
using static PruneFuse.Client.Commands.Common;

namespace PruneFuse.Client.Commands;

/// <summary>How long work is shown while it runs: a progress bar or spinner on a terminal, lines on stderr otherwise.</summary>
public static class Progress
{
    /// <summary>Shows the import's progress (a bar on a terminal, lines on stderr otherwise) until it finishes.</summary>
    private static string Rate(ImportProgress progress)
    {
        if (progress.ImagesPerSecond <= 0) return "";
        var silos = progress.Silos.Length == 0 ? progress.Silo.Length > 0 ? $" on {progress.Silo}" : ""
            : "; " + string.Join(", ", progress.Silos.Select(s
                => $"{s.Silo}: {s.Shards} shards at {s.ImagesPerSecond:N0}/s"));
        var resumed = progress.ResumedShards > 0 ? $"; {progress.ResumedShards} shards resumed" : "";
        return $" ({progress.ImagesPerSecond:N0} images/s{silos}{resumed})";
    }

    internal static async Task<T> WithImportProgress<T>(IDatasetGrain grain, Task<T> import, bool json, CancellationToken ct)
    {
        if (json || Console.IsOutputRedirected)
        {
            var last = "";
            while (!import.IsCompleted)
            {
                await Task.WhenAny(import, Task.Delay(2000, ct));
                if (import.IsCompleted) break;
                var pr = await grain.GetImportProgress();
                var line = pr.Total > 0 ? $"{pr.Stage}: {pr.Done:N0}/{pr.Total:N0}{Rate(pr)}" : pr.Stage;
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
                task.Description = Markup.Escape(pr.Stage + Rate(pr));
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


    internal static string Phase(ExperimentStatus st) =>
        st.Round == 0 ? "setup" : st.Round > st.Spec!.Rounds ? "final training" : $"round {st.Round}/{st.Spec.Rounds}";

    /// <summary>Polls an experiment until it ends, showing round, stage and labeled count.</summary>
    internal static async Task<ExperimentStatus> Follow(IClusterClient c, string id, bool json, CancellationToken ct)
    {
        var grain = c.GetGrain<ICoordinatorGrain>(id);
        var st = await grain.GetStatus();
        if (st.State == ExperimentState.None) return st;
        if (json || Console.IsOutputRedirected)
        {
            var last = "";
            while (st.State == ExperimentState.Running && st.AwaitingLabelsRound is null)
            {
                var line = Reports.ScoringLine(st) is { } scoring ? $"{Phase(st)}: {scoring} ({st.Labeled} labeled)" : $"{Phase(st)}: {st.Stage} ({st.Labeled} labeled)";
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
                ctx.Status($"{Phase(st)}: {Markup.Escape(Reports.ScoringLine(st) ?? st.Stage)} — {st.Labeled} labeled{rate}");
                await Task.Delay(500, ct);
                st = await grain.GetStatus();
            }
        });
        return st;
    }
}

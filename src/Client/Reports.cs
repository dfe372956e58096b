using System.Text.Json;
using System.Text.Json.Nodes;
using PruneFuse.Grains.Interfaces;
using Spectre.Console;

namespace PruneFuse.Client;

/// <summary>Presents an experiment's status: tables, the learning-curve PNG and the JSON summary.</summary>
public static class Reports
{
    /// <summary>JSON output options: readable non-ASCII (α, θ), no indentation.</summary>
    public static readonly JsonSerializerOptions JsonOut = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Records as <c>--json</c> prints them: the contract records' JSON form, shared with the silo's
    /// experiments API.</summary>
    public static JsonSerializerOptions Camel => ContractJson.Options;

    // The target as the spec names it: arch, stem when chosen, pretrained weights when given.
    private static string Target(ExperimentSpec s) =>
        s.Arch.Value + (s.Stem is null ? "" : $" ({s.Stem} stem)") + (s.InitialWeights is null ? "" : $" from weights {s.InitialWeights[..12]}");

    /// <summary>One-line method description of a spec.</summary>
    public static string Method(ExperimentSpec s)
    {
        var warm = s.SelectorWarmStart && s.Selector != SelectorKind.Random ? $", warm-started selector ({s.WarmEpochs} epochs)" : "";
        var source = s.FusionSource == FusionSource.Retrain ? "" : $" of the {s.FusionSource.Name()} selector";
        return s.Selector switch
        {
            SelectorKind.Pruned => $"PruneFuse ({Target(s)}, p={s.PruneRatio}, {s.PruningMethod.Name()}{(s.Fusion ? ", fusion" + source : ", no fusion")}{Kd(s)}{warm})",
            SelectorKind.Dense => $"dense active learning ({Target(s)}{warm})",
            SelectorKind.Proxy => $"selection via proxy ({s.ProxyArch.Value} → {Target(s)}{warm})",
            _ => $"random selection ({Target(s)})",
        };
    }

    private static string Kd(ExperimentSpec s) => s.DistillationAlpha <= 0 ? ""
        : s.DistillationDecay > 0 ? FormattableString.Invariant($", KD α={s.DistillationAlpha} decaying to 0 over {s.DistillationDecay:0.###} of final training")
        : FormattableString.Invariant($", KD α={s.DistillationAlpha}");

    /// <summary>The machine-readable summary (the demo's last line).</summary>
    public static JsonObject Summary(ExperimentStatus st)
    {
        if (st.Spec is null)
        {
            return new JsonObject { ["experiment"] = st.ExperimentId, ["state"] = st.State.ToString().ToLowerInvariant(), ["error"] = st.Error };
        }
        var spec = st.Spec;
        var selection = st.Rounds.Sum(r => r.SelectionSeconds);
        var total = ((st.EndedAt ?? DateTimeOffset.UtcNow) - st.StartedAt).TotalSeconds;
        return new JsonObject
        {
            ["experiment"] = st.ExperimentId,
            ["dataset"] = spec.DatasetId,
            ["method"] = Method(spec),
            ["state"] = st.State.ToString().ToLowerInvariant(),
            ["stage"] = st.Stage,
            ["currentRound"] = st.Round,
            ["awaitingLabelsRound"] = st.AwaitingLabelsRound,
            ["next"] = NextCommand(st),
            ["notes"] = new JsonArray([.. st.Notes.Select(n => (JsonNode)n)]),
            ["training"] = st.Training is not { } t ? null : new JsonObject
            {
                ["network"] = t.Network,
                ["epoch"] = t.Epoch,
                ["epochs"] = t.Epochs,
                ["trainLoss"] = t.TrainLoss is { } l ? Math.Round(l, 4) : null,
                ["testAccuracy"] = t.TestAccuracy is { } a ? Math.Round(a, 4) : null,
                ["seconds"] = Math.Round(t.Seconds, 1),
                ["etaSeconds"] = t.EtaSeconds is { } e ? Math.Round(e, 1) : null,
            },
            ["scoring"] = st.Scoring is not { } sc ? null : new JsonObject
            {
                ["round"] = sc.Round,
                ["shards"] = sc.Shards,
                ["units"] = sc.Units,
                ["unitsDone"] = sc.UnitsDone,
                ["scored"] = sc.Scored,
                ["seconds"] = Math.Round(sc.Seconds, 1),
                ["silos"] = SiloFigures(sc.Silos),
            },
            ["labeled"] = st.Labeled,
            ["startedAt"] = st.StartedAt,
            ["endedAt"] = st.EndedAt,
            ["rounds"] = new JsonArray([.. st.Rounds.Select(r => (JsonNode)new JsonObject
            {
                ["round"] = r.Round,
                ["labeled"] = r.Labeled,
                ["selectorAccuracy"] = r.SelectorAccuracy is { } a ? Math.Round(a, 4) : null,
                ["selectorTrainSeconds"] = Math.Round(r.SelectorTrainSeconds, 2),
                ["scoringSeconds"] = Math.Round(r.ScoringSeconds, 2),
                ["selectionSeconds"] = Math.Round(r.SelectionSeconds, 2),
                ["scored"] = r.Scored,
                ["selectorSilo"] = r.SelectorSilo,
                ["selectorEpochs"] = r.SelectorEpochs,
                ["selectorStartedFrom"] = r.SelectorStartedFrom,
                ["scoredOn"] = new JsonArray([.. r.ScoredOn.Select(x => (JsonNode)x)]),
                ["scoringUnits"] = r.ScoringUnits,
                ["scoringSilos"] = SiloFigures(r.ScoringSilos),
            })]),
            ["final"] = st.Final is null ? null : new JsonObject
            {
                ["accuracy"] = Math.Round(st.Final.Accuracy, 4),
                ["bestAccuracy"] = Math.Round(st.Final.BestAccuracy, 4),
                ["trainSeconds"] = Math.Round(st.Final.TrainSeconds, 2),
            },
            ["finalSelectorSeconds"] = Math.Round(st.FinalSelectorSeconds, 2),
            ["finalSelectorAccuracy"] = st.FinalSelectorAccuracy is { } fsa ? Math.Round(fsa, 4) : null,
            ["finalSelectorEpochs"] = st.FinalSelectorEpochs,
            ["finalSelectorStartedFrom"] = st.FinalSelectorStartedFrom,
            ["selectionSeconds"] = Math.Round(selection, 2),
            ["warning"] = st.Warning,
            ["totalSeconds"] = Math.Round(total, 2),
            ["error"] = st.Error,
            ["spec"] = JsonSerializer.SerializeToNode(spec, Camel),
            ["reproduce"] = SpecArguments.Reproduce(st.ExperimentId, spec),
        };
    }

    /// <summary>Prints the results table.</summary>
    public static void PrintTable(ExperimentStatus st)
    {
        var t = new Table().Title($"[bold]{Markup.Escape(st.ExperimentId)}[/]: {Markup.Escape(Method(st.Spec!))}");
        t.AddColumns("round", "labeled", "selector acc.", "selector epochs", "selector train s", "scoring s", "scored");
        foreach (var r in st.Rounds)
        {
            t.AddRow(r.Round.ToString(), r.Labeled.ToString(), r.SelectorAccuracy is { } a ? $"{a:P1}" : "-",
                r.SelectorEpochs == 0 ? "-" : r.SelectorStartedFrom is null ? $"{r.SelectorEpochs}" : $"{r.SelectorEpochs} (warm)", $"{r.SelectorTrainSeconds:F1}", $"{r.ScoringSeconds:F1}", r.Scored.ToString());
        }
        AnsiConsole.Write(t);
        AnsiConsole.MarkupLine(Markup.Escape(StateLine(st)));
        if (NextCommand(st) is { } next) AnsiConsole.MarkupLine($"next: [bold]{Markup.Escape(next)}[/]");
        if (st.Final is { } f)
        {
            AnsiConsole.MarkupLine($"final network ({(f.Fused ? "fused" : "from θ0")}): accuracy [bold]{f.Accuracy:P2}[/] (best {f.BestAccuracy:P2}), trained {f.TrainSeconds:F1} s on {st.Spec!.Budget} labels");
        }
        if (st.Warning is not null) AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(st.Warning)}");
        AnsiConsole.MarkupLine($"selection cost: {st.Rounds.Sum(r => r.SelectionSeconds):F1} s over {Count(st.Rounds.Length, "round")} (+{st.FinalSelectorSeconds:F1} s final selector); selector {st.SelectorParams:N0} params, {st.SelectorMacs / 1e6:F2} MMACs/image");
        if (st.Error is not null) AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(st.Error)}");
        AnsiConsole.MarkupLine($"reproduce: {Markup.Escape(SpecArguments.Reproduce(st.ExperimentId, st.Spec!))}");
    }

    /// <summary>"scoring round 2: 9/24 work units; 127.0.0.1:11111@… 5 units (1 in flight) at 7,400 samples/s; …", or
    /// null when not scoring.</summary>
    public static string? ScoringLine(ExperimentStatus st) => st.Scoring is not { } sc ? null :
        $"scoring round {sc.Round}: {sc.UnitsDone}/{sc.Units} work units" + string.Concat(sc.Silos.Select(x => "; " + SiloLine(x)));

    /// <summary>"127.0.0.1:11111@… 5 units (1 in flight, 1 lost) at 7,400 samples/s".</summary>
    public static string SiloLine(SiloScoring x)
    {
        var notes = new List<string>();
        if (x.InFlight > 0) notes.Add($"{x.InFlight} in flight");
        if (x.Lost > 0) notes.Add($"{x.Lost} lost");
        return $"{x.Silo} {Count(x.Units, "unit")}{(notes.Count > 0 ? $" ({string.Join(", ", notes)})" : "")} at {x.SamplesPerSecond:N0} samples/s";
    }

    /// <summary>Per-silo scoring figures as JSON.</summary>
    public static JsonArray SiloFigures(IEnumerable<SiloScoring> silos) => new([.. silos.Select(x => (JsonNode)new JsonObject
    {
        ["silo"] = x.Silo, ["units"] = x.Units, ["inFlight"] = x.InFlight, ["lost"] = x.Lost, ["scored"] = x.Scored,
        ["seconds"] = Math.Round(x.Seconds, 2), ["samplesPerSecond"] = Math.Round(x.SamplesPerSecond, 1),
    })]);

    /// <summary>"1 round", "2 rounds".</summary>
    public static string Count(int n, string noun) => n == 1 ? $"1 {noun}" : $"{n} {noun}s";

    /// <summary>One line: state, and while running the stage, the round out of the planned rounds and the labeled
    /// count.</summary>
    public static string StateLine(ExperimentStatus st)
    {
        var state = st.State.ToString().ToLowerInvariant();
        if (st.State != ExperimentState.Running) return $"state: {state}, {st.Labeled} labeled";
        var rounds = st.Spec?.Rounds ?? 0;
        // While labels are awaited the coordinator has already moved Round on to the next round.
        var where = st.AwaitingLabelsRound is { } awaited ? $"{awaited} of {rounds} rounds selected"
            : st.Round > rounds ? "final training" : $"round {st.Round} of {rounds}";
        return $"state: {state} — {st.Stage} ({where}, {st.Labeled} labeled)";
    }

    /// <summary>The commands that move an experiment on when it waits for external labels; null otherwise.</summary>
    public static string? NextCommand(ExperimentStatus st) => st.AwaitingLabelsRound is not { } round ? null :
        $"prunefuse selections export --id {st.ExperimentId} --round {round} --out round{round}.csv, label it, then " +
        $"prunefuse labels import --id {st.ExperimentId} --round {round} --file round{round}-labels.csv";

    /// <summary>Writes result.json and learning-curve.png into <paramref name="folder"/>; returns their
    /// paths.</summary>
    public static (string Json, string Png) Save(ExperimentStatus st, string folder)
    {
        Directory.CreateDirectory(folder);
        var json = Path.Combine(folder, $"{st.ExperimentId}.json");
        File.WriteAllText(json, Summary(st).ToJsonString(new JsonSerializerOptions(JsonOut) { WriteIndented = true }));
        var png = Path.Combine(folder, $"{st.ExperimentId}-learning-curve.png");
        File.WriteAllBytes(png, LearningCurvePng(st));
        return (json, png);
    }

    /// <summary>The learning curve (selector accuracy per round and the final network's) as PNG bytes.</summary>
    public static byte[] LearningCurvePng(ExperimentStatus st)
    {
        var plot = new ScottPlot.Plot();
        var rounds = st.Rounds.Where(r => r.SelectorAccuracy.HasValue).ToList();
        if (rounds.Count > 0)
        {
            // Selector accuracy is measured on the labeled set it trained on, i.e. before that round's selection.
            var xs = rounds.Select(r => (double)(r.Labeled - st.Spec!.RoundSize)).ToArray();
            var ys = rounds.Select(r => r.SelectorAccuracy!.Value * 100).ToArray();
            var s = plot.Add.Scatter(xs, ys);
            s.LegendText = "selector test accuracy";
        }
        if (st.Final is { } f)
        {
            var m = plot.Add.Scatter(new[] { (double)st.Spec!.Budget }, new[] { f.Accuracy * 100 });
            m.LegendText = f.Fused ? "fused network (final)" : "final network";
            m.MarkerSize = 12;
        }
        plot.Title($"{st.ExperimentId}: {Method(st.Spec!)}");
        plot.XLabel("labeled samples");
        plot.YLabel("test accuracy (%)");
        plot.ShowLegend();
        return plot.GetImageBytes(900, 550, ScottPlot.ImageFormat.Png);
    }
}

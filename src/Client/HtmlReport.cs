using System.Globalization;
using System.Net;
using System.Text;
using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Client;

/// <summary>
/// One self-contained HTML page per experiment: spec, per-round table, learning curves and the selection-cost
/// breakdown. Plots are embedded as PNG data URIs and styles are inline, so the file opens anywhere offline.
/// </summary>
public static class HtmlReport
{
    /// <summary>Writes <c>&lt;experiment&gt;.html</c> into <paramref name="folder"/> and returns its path.</summary>
    public static string Save(ExperimentStatus st, string folder)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, $"{st.ExperimentId}.html");
        File.WriteAllText(path, Render(st), Encoding.UTF8);
        return path;
    }

    /// <summary>The page's HTML.</summary>
    public static string Render(ExperimentStatus st)
    {
        var spec = st.Spec ?? throw new ClientException($"experiment '{st.ExperimentId}' has no spec to report");
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">");
        h.Append($"<title>{E(st.ExperimentId)} · PruneFuse report</title><style>{Css}</style></head><body>\n");
        h.Append($"<h1>{E(st.ExperimentId)}</h1><p class=\"method\">{E(Reports.Method(spec))}</p>\n");
        h.Append("<dl class=\"facts\">");
        Fact(h, "state", st.State.ToString().ToLowerInvariant());
        Fact(h, "dataset", spec.DatasetId);
        Fact(h, "budget", (FormattableString)$"{spec.Budget:N0} labels ({spec.InitialLabeled:N0} initial + {spec.Rounds} × {spec.RoundSize:N0})");
        if (st.Final is { } f) Fact(h, "final accuracy", (FormattableString)$"{f.Accuracy:P2} (best {f.BestAccuracy:P2}, {(f.Fused ? "fused" : "from θ0")})");
        Fact(h, "selector", (FormattableString)$"{st.SelectorParams:N0} params, {st.SelectorMacs / 1e6:F2} MMACs/image");
        if (st.FinalSelectorAccuracy is { } fsa) Fact(h, "final selector", (FormattableString)$"{fsa:P2} test accuracy on the final labeled set, trained {st.FinalSelectorSeconds:F1} s");
        Fact(h, "started", st.StartedAt.ToString("u", CultureInfo.InvariantCulture));
        if (st.EndedAt is { } end) Fact(h, "ended", (FormattableString)$"{end.ToString("u", CultureInfo.InvariantCulture)} ({(end - st.StartedAt).TotalMinutes:F1} min)");
        h.Append("</dl>\n");
        if (st.Error is not null) h.Append($"<p class=\"error\">error: {E(st.Error)}</p>\n");
        if (st.Warning is not null) h.Append($"<p class=\"warning\">warning: {E(st.Warning)}</p>\n");

        h.Append("<h2>Rounds</h2><table id=\"rounds\"><thead><tr><th>round</th><th>labeled</th><th>selector accuracy</th><th>selector training s</th><th>scoring s</th><th>scored</th><th>selector silo</th><th>scored on</th></tr></thead><tbody>\n");
        foreach (var r in st.Rounds)
        {
            h.Append(CultureInfo.InvariantCulture, $"<tr><td>{r.Round}</td><td>{r.Labeled:N0}</td><td>{(r.SelectorAccuracy is { } a ? a.ToString("P2", CultureInfo.InvariantCulture) : "–")}</td><td>{r.SelectorTrainSeconds:F1}</td><td>{r.ScoringSeconds:F1}</td><td>{r.Scored:N0}</td><td>{E(r.SelectorSilo ?? "–")}</td><td>{E(string.Join(", ", r.ScoredOn))}</td></tr>\n");
        }
        h.Append("</tbody></table>\n");

        h.Append("<h2>Learning curves</h2>\n");
        h.Append($"<figure><img id=\"learning-curve\" alt=\"selector and final test accuracy against labeled samples\" src=\"data:image/png;base64,{Convert.ToBase64String(Reports.LearningCurvePng(st))}\"><figcaption>Selector test accuracy per round and the final network's.</figcaption></figure>\n");
        if (st.Final is { EpochAccuracies.Length: > 0 } fin)
        {
            h.Append($"<figure><img id=\"final-training\" alt=\"final network test accuracy per epoch\" src=\"data:image/png;base64,{Convert.ToBase64String(FinalTrainingPng(st, fin))}\"><figcaption>Final network: test accuracy after every epoch.</figcaption></figure>\n");
        }

        h.Append("<h2>Selection cost</h2>\n");
        var rows = st.Rounds.Select(r => ($"round {r.Round}", r.SelectorTrainSeconds, r.ScoringSeconds)).ToList();
        // Only PruneFuse trains a separate final selector (the fusion source and teacher); for other methods the
        // status's final selector is the last round's, already counted.
        var finalSelectorTrained = spec.Selector == SelectorKind.Pruned && (spec.Fusion || spec.DistillationAlpha > 0);
        if (finalSelectorTrained && st.FinalSelectorSeconds > 0) rows.Add(("final selector", st.FinalSelectorSeconds, 0));
        var max = Math.Max(1e-9, rows.Select(r => r.Item2 + r.Item3).DefaultIfEmpty(0).Max());
        h.Append("<table id=\"cost\"><thead><tr><th>step</th><th>selector training s</th><th>scoring s</th><th></th></tr></thead><tbody>\n");
        foreach (var (name, train, score) in rows)
        {
            h.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(name)}</td><td>{train:F1}</td><td>{score:F1}</td><td class=\"bar\"><span class=\"train\" style=\"width:{100 * train / max:F1}%\"></span><span class=\"score\" style=\"width:{100 * score / max:F1}%\"></span></td></tr>\n");
        }
        var selectionTotal = st.Rounds.Sum(r => r.SelectionSeconds) + (finalSelectorTrained ? st.FinalSelectorSeconds : 0);
        h.Append(CultureInfo.InvariantCulture, $"</tbody><tfoot><tr><td>total selection</td><td colspan=\"3\">{selectionTotal:F1} s</td></tr>");
        if (st.Final is { } ft) h.Append(CultureInfo.InvariantCulture, $"<tr><td>final training</td><td colspan=\"3\">{ft.TrainSeconds:F1} s</td></tr>");
        h.Append("</tfoot></table><p class=\"legend\"><span class=\"train\"></span> selector training <span class=\"score\"></span> scoring</p>\n");

        // The spec as the options that start it, and the whole command: what a reader needs to run it again.
        h.Append("<h2>Spec</h2><table id=\"spec\"><tbody>\n");
        foreach (var (option, value) in SpecArguments.Of(spec)) h.Append($"<tr><th>{E(option)}</th><td>{E(value ?? "yes")}</td></tr>\n");
        h.Append("</tbody></table>\n");
        h.Append($"<p>Reproduce: <code id=\"reproduce\">{E(SpecArguments.Reproduce(st.ExperimentId, spec))}</code></p>\n");
        h.Append($"<footer>PruneFuse · generated {DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture)}</footer>\n");
        // Marks the page as rendered once every plot has decoded; headless checks read this attribute.
        h.Append("<script>addEventListener('load',()=>{const ok=[...document.images].every(i=>i.complete&&i.naturalWidth>0);document.body.dataset.rendered=ok?'ok':'broken-image';});</script>\n");
        h.Append("</body></html>\n");
        return h.ToString();
    }

    private static byte[] FinalTrainingPng(ExperimentStatus st, FinalResult f)
    {
        var plot = new ScottPlot.Plot();
        var s = plot.Add.Scatter(Enumerable.Range(1, f.EpochAccuracies.Length).Select(e => (double)e).ToArray(), f.EpochAccuracies.Select(a => a * 100).ToArray());
        s.LegendText = f.Fused ? "fused network" : "network from θ0";
        plot.Title($"{st.ExperimentId}: final training");
        plot.XLabel("epoch");
        // Epochs are whole numbers: no 0.9, 1.1 ticks when there are few.
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.YLabel("test accuracy (%)");
        plot.ShowLegend();
        return plot.GetImageBytes(900, 450, ScottPlot.ImageFormat.Png);
    }

    private static void Fact(StringBuilder h, string name, string value) => h.Append($"<dt>{E(name)}</dt><dd>{E(value)}</dd>");

    private static void Fact(StringBuilder h, string name, FormattableString value) => Fact(h, name, value.ToString(CultureInfo.InvariantCulture));

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private const string Css =
        "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1b1f24}" +
        "h1{margin-bottom:.2rem}.method{color:#555;margin-top:0}table{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%}" +
        "th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}thead th{background:#f3f4f6}" +
        "dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}" +
        "img{max-width:100%;border:1px solid #eee}figure{margin:0 0 1rem}figcaption{color:#555;font-size:.9em}" +
        "td.bar{width:40%}.bar span,.legend span{display:inline-block;height:.8rem}.legend span{width:.8rem}" +
        ".train{background:#4c78a8}.score{background:#f58518}.error{color:#b00020}.warning{color:#8a6d00}footer{color:#888;margin-top:2rem;font-size:.85em}";
}

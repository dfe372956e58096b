using System.CommandLine;
using PruneFuse.Grains.Interfaces;
using static PruneFuse.Client.Commands.Common;

namespace PruneFuse.Client.Commands;

/// <summary><c>prunefuse labels import</c>.</summary>
public static class LabelCommands
{
    /// <summary><c>labels import</c>.</summary>
    public static Command Labels()
    {
        var id = Id("Experiment id");
        var round = new Option<int>("--round") { Description = "Round the labels belong to (0 = the initial set)", Required = true };
        var file = new Option<string>("--file") { Description = "CSV (sample_id,label), JSONL ({\"sampleId\",\"label\"}) or a Label Studio JSON export", Required = true };
        var format = new Option<string>("--format") { Description = "auto (a JSON array is a Label Studio export, .jsonl/.json lines JSONL, else CSV), csv, jsonl or label-studio", DefaultValueFactory = _ => "auto" };
        format.AcceptOnlyFromAmong("auto", "csv", "jsonl", "label-studio");
        var import = new Command("import", "Import labels for the round the experiment waits on; it then continues") { id, round, file, format };
        import.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var coordinator = c.GetGrain<ICoordinatorGrain>(p.GetValue(id)!);
            SampleLabel[] labels;
            // Bounded by the round's selection: a huge or wrong file is refused while it is read, before anything is
            // sent.
            var selected = (await coordinator.GetSelection(p.GetValue(round))).Length;
            if (p.GetValue(format) == "label-studio" || (p.GetValue(format) == "auto" && LabelFiles.LooksLikeLabelStudio(p.GetValue(file)!)))
            {
                var spec = (await coordinator.GetStatus()).Spec ?? throw new ClientException($"unknown experiment '{p.GetValue(id)}'");
                labels = LabelStudio.ReadExport(p.GetValue(file)!,
                    ClassNames(await c.GetGrain<IDatasetGrain>(spec.DatasetId).Describe()), selected);
            }
            else
            {
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
}

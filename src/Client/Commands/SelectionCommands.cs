using System.CommandLine;
using PruneFuse.Grains.Interfaces;
using static PruneFuse.Client.Commands.Common;

namespace PruneFuse.Client.Commands;

/// <summary><c>prunefuse selections export</c>.</summary>
public static class SelectionCommands
{
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
        var export = new Command("export",
            "Write a round's selection (sample id, shard, score, predicted class, source key) for your labeling "
            + "tool") { id, round, format, output, images, imageRoot };
        export.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var experiment = p.GetValue(id)!;
            var r = p.GetValue(round);
            var file = p.GetValue(output)!;
            var coordinator = c.GetGrain<ICoordinatorGrain>(experiment);
            var selection = await coordinator.GetSelection(r);
            // A missing output folder is made, as for --images: the file is what the user asked for.
            if (Path.GetDirectoryName(Path.GetFullPath(file)) is { } outFolder) Directory.CreateDirectory(outFolder);
            string? config = null;
            var st = await coordinator.GetStatus();
            var sources = new List<string>(selection.Length);
            foreach (var chunk in selection.Chunk(10_000))
            {
                sources.AddRange(await c.GetGrain<IDatasetGrain>(st.Spec!.DatasetId).GetSourceKeys([.. chunk.Select(s
                    => s.SampleId)]));
            }
            if (p.GetValue(format) == "label-studio")
            {
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
                // Label Studio resolves local-files paths from its LOCAL_FILES_DOCUMENT_ROOT (README: "/"), never from this
                // console's folder: the default URL carries the folder's absolute path.
                var prefix = p.GetValue(imageRoot) ?? $"/data/local-files/?d={Path.GetFullPath(folder ?? "images").Trim('/')}/";
                LabelStudio.WriteTasks(file, selection, experiment, r, st.Spec.Metric.Name(), names, sampleId
                    => $"{prefix}{sampleId}.png", sources);
                config = Path.ChangeExtension(file, ".label-config.xml");
                File.WriteAllText(config, LabelStudio.LabelConfig(names));
            }
            else
            {
                LabelFiles.WriteSelection(file, selection, p.GetValue(format)!, sources);
            }
            Print(json, new { experiment, round = r, samples = selection.Length, file, labelConfig = config, images = p.GetValue(images) },
                $"wrote {selection.Length} samples of round {r} to {file}{(config is null ? "" : $" (labeling config: {config})")}");
            return 0;
        }, ct));
        var cmd = new Command("selections", "Export selections");
        cmd.Subcommands.Add(export);
        return cmd;
    }
}

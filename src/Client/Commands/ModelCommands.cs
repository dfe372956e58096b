using System.CommandLine;
using PruneFuse.Grains.Interfaces;
using static PruneFuse.Client.Commands.Common;

namespace PruneFuse.Client.Commands;

/// <summary><c>prunefuse model export</c>.</summary>
public static class ModelCommands
{
    /// <summary><c>model export</c>.</summary>
    public static Command Model()
    {
        var id = WithIdRule(new Option<string>("--id", "--experiment") { Description = "Experiment id", Required = true }, "experiment id");
        var format = new Option<string>("--format") { Description = "pytorch (torch.load state dict), safetensors, or onnx (the whole network for ONNX Runtime, uint8 images in)", DefaultValueFactory = _ => "pytorch" };
        format.AcceptOnlyFromAmong("pytorch", "safetensors", "onnx");
        var network = new Option<string>("--network") { Description = "final (the fused, trained target) or selector (the last trained selector)", DefaultValueFactory = _ => "final" };
        network.AcceptOnlyFromAmong("final", "selector");
        var output = new Option<string?>("--out") { Description = "Folder to write the weights and their JSON description (default: exports/<experiment>)" };
        var export = new Command("export", "Write a trained network as a PyTorch state dict or an ONNX model, plus a JSON of its architecture and widths") { id, format, network, output };
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
                p.GetValue(format) == "onnx"
                    ? $"wrote {weights} ({model.Weights.Length:N0} bytes) and {description}; run it with ONNX Runtime (input 'images': uint8 NCHW pixels)"
                    : $"wrote {weights} ({model.Weights.Length:N0} bytes) and {description}; load it in PyTorch with tools/python/prunefuse_model.py");
            return 0;
        }, ct));
        var cmd = new Command("model", "Take trained networks home");
        cmd.Subcommands.Add(export);
        return cmd;
    }
}

using System.Runtime.InteropServices;
using System.Text.Json;
using PruneFuse.Learning.Export;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Training;

namespace PruneFuse.Learning.Tests;

/// <summary>
/// Exported networks load in real PyTorch (Debian's python3-torch, outside .NET) and give the same logits.
/// No Python or no torch fails the test with the install command; it is never skipped.
/// </summary>
public class ModelExportTests
{
    [Theory]
    [InlineData("pytorch")]
    [InlineData("safetensors")]
    public void Exported_pruned_network_gives_the_same_logits_in_pytorch(string formatName)
    {
        var format = ModelExport.ParseFormat(formatName);
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet20", 1, 10), 5);
        var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
        using var selector = ChannelPruner.Extract(theta0, plan);
        // Real training, so weights and BN running statistics are far from their initial values.
        Trainer.Train(selector, TestData.Train.Take(512), new TrainingOptions { Epochs = 1, BatchSize = 64, Seed = 9 }, TestData.Norm);

        using var dir = new TempDir();
        var weights = "selector" + ModelExport.Extension(format);
        File.WriteAllBytes(Path.Combine(dir.Path, weights), ModelExport.Weights(selector, format));
        var json = Path.Combine(dir.Path, "selector.json");
        File.WriteAllText(json, ModelExport.Describe(selector.Spec, TestData.Norm, weights, format, tags: new Dictionary<string, string> { ["role"] = "selector" }));

        var images = TestData.Test.Take(200);
        var expected = Evaluator.Logits(selector, images, TestData.Norm);
        var actual = RunPython(json, images.Pixels, images.Count, images.Height, images.Width, dir.Path);

        Assert.Equal(expected.Length, actual.Length);
        var maxDiff = expected.Zip(actual).Max(x => Math.Abs(x.First - x.Second));
        Assert.True(maxDiff <= 1e-4, $"max |Δlogit| between TorchSharp and PyTorch = {maxDiff}");
        Assert.True(expected.Select(Math.Abs).Max() > 0.1, $"logits are not trivially small (max |logit| {expected.Select(Math.Abs).Max()})");
    }

    [Fact]
    public void Description_records_every_width_and_the_normalisation()
    {
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet8", 3, 7), 1);
        var plan = ChannelPruner.Plan(theta0, 0.7, PruningMethod.L2);
        using var doc = JsonDocument.Parse(ModelExport.Describe(plan.Pruned, new([0.1f, 0.2f, 0.3f], [0.4f, 0.5f, 0.6f]), "m.pt", ModelFormat.PyTorch, ["a", "b", "c", "d", "e", "f", "g"]));
        var r = doc.RootElement;
        Assert.Equal(ModelExport.DescriptionFormat, r.GetProperty("format").GetString());
        Assert.Equal(plan.Pruned.Widths, r.GetProperty("widths").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32()));
        var layers = r.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(plan.Pruned.Describe().Layers.Count, layers.Count);
        var conv = layers.Single(l => l.GetProperty("name").GetString() == "layer2.0.downsample.0");
        Assert.Equal(plan.Pruned.Widths["stage2"], conv.GetProperty("channels").GetInt32());
        Assert.Equal(plan.Pruned.Widths["stage1"], conv.GetProperty("inChannels").GetInt32());
        Assert.Equal(1, conv.GetProperty("kernel").GetInt32());
        Assert.Equal(2, conv.GetProperty("stride").GetInt32());
        Assert.Equal(3, r.GetProperty("normalization").GetProperty("mean").GetArrayLength());
        Assert.Equal(7, r.GetProperty("classNames").GetArrayLength());
        Assert.Equal("pytorch", r.GetProperty("weightsFormat").GetString());
    }

    [Fact]
    public void Unknown_format_is_refused_by_name()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelExport.ParseFormat("tflite"));
        Assert.Contains("'tflite'", e.Message);
        Assert.Contains("pytorch, safetensors or onnx", e.Message);
        Assert.Equal(ModelFormat.Onnx, ModelExport.ParseFormat(" ONNX"));
    }

    private static float[] RunPython(string json, byte[] pixels, int count, int height, int width, string dir)
    {
        var input = Path.Combine(dir, "images.u8");
        var output = Path.Combine(dir, "logits.f32");
        File.WriteAllBytes(input, pixels);
        var script = Path.Combine(BuildOutput.RepoRoot, "tools", "python", "prunefuse_model.py");
        DebianPython.Run(script, json, input, count.ToString(), height.ToString(), width.ToString(), output);
        return MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(output)).ToArray();
    }
}

using System.Text.Json;

namespace PruneFuse.Client.Tests;

/// <summary>
/// A finished experiment leaves the cluster: its networks load in real PyTorch (Debian's python3-torch) and in
/// ONNX Runtime and reproduce the cluster's test accuracy, and its HTML report renders in headless Chromium.
/// </summary>
public sealed class TakeHomeConsoleTests
{
    private const string Python = "/usr/bin/python3";

    // Loads an exported network with tools/python/prunefuse_model.py and prints its accuracy on a stored test shard.
    private const string AccuracyScript = """
        import struct, sys, torch
        sys.path.insert(0, sys.argv[1])
        import prunefuse_model
        model, info = prunefuse_model.load(sys.argv[2])
        blob = open(sys.argv[3], "rb").read()
        n, c, h, w = struct.unpack_from("<4i", blob, 12)
        labels = torch.frombuffer(bytearray(blob[48 + 8 * n:48 + 12 * n]), dtype=torch.int32).long()
        pixels = torch.frombuffer(bytearray(blob[48 + 12 * n:]), dtype=torch.uint8).reshape(n, c, h, w)
        with torch.no_grad():
            pred = torch.cat([model(prunefuse_model.preprocess(pixels[i:i + 500], info)).argmax(1) for i in range(0, n, 500)])
        print((pred == labels).double().mean().item())
        """;

    /// <summary>Accuracy of an exported ONNX model on a pool shard file (layout as in the Python script
    /// above).</summary>
    private static double OnnxAccuracy(string model, string shard)
    {
        var blob = File.ReadAllBytes(shard);
        var n = BitConverter.ToInt32(blob, 12);
        var (c, h, w) = (BitConverter.ToInt32(blob, 16), BitConverter.ToInt32(blob, 20), BitConverter.ToInt32(blob, 24));
        var image = c * h * w;
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(model);
        using var run = new Microsoft.ML.OnnxRuntime.RunOptions();
        var correct = 0;
        for (var start = 0; start < n; start += 500)
        {
            var count = Math.Min(500, n - start);
            var pixels = blob.AsSpan(48 + 12 * n + start * image, count * image).ToArray();
            using var input = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(pixels, [count, c, h, w]);
            using var outputs = session.Run(run, ["images"], [input], ["predicted"]);
            var predicted = outputs[0].GetTensorDataAsSpan<long>();
            for (var i = 0; i < count; i++) correct += predicted[i] == BitConverter.ToInt32(blob, 48 + 8 * n + 4 * (start + i)) ? 1 : 0;
        }
        return correct / (double)n;
    }

    [Fact]
    public async Task Exported_networks_reproduce_the_cluster_accuracy_in_pytorch_and_the_html_report_renders()
    {
        using var dir = new TempDir("prunefuse-takehome-");
        var root = dir.Path;
        await using var silo = new SiloProcess(Path.Combine(root, "silo"));
        await silo.StartAsync();
        var port = silo.GatewayPort;
        Assert.Equal(0, (await Processes.ClientAsync(port, "dataset", "import", "--id", "home", "--shards", "2", "--limit", "1500")).ExitCode);
        var start = await Processes.ClientAsync(port, "experiment", "start", "--id", "home", "--dataset", "home", "--arch", "resnet8", "--initial", "300",
            "--round-size", "100", "--rounds", "1", "--selector-epochs", "2", "--final-epochs", "2", "--batch-size", "64");
        Assert.True(start.ExitCode == 0, start.Stderr);

        // Before the experiment ends there is no final network; the refusal names the experiment.
        var early = await Processes.ClientAsync(port, "model", "export", "--experiment", "home", "--out", Path.Combine(root, "early"));
        if (early.ExitCode != 0) Assert.Contains("home", early.Stderr);

        var done = await Processes.ClientAsync(port, "experiment", "status", "--id", "home", "--watch", "--json");
        var summary = JsonDocument.Parse(done.LastLine).RootElement;
        Assert.Equal("completed", summary.GetProperty("state").GetString());
        var finalAccuracy = summary.GetProperty("final").GetProperty("accuracy").GetDouble();
        var selectorAccuracy = summary.GetProperty("finalSelectorAccuracy").GetDouble();

        var exports = Path.Combine(root, "exports");
        var final = await Processes.ClientAsync(port, "model", "export", "--id", "home", "--format", "pytorch", "--out", exports, "--json");
        Assert.True(final.ExitCode == 0, final.Stderr + final.Stdout);
        var selector = await Processes.ClientAsync(port, "model", "export", "--experiment", "home", "--network", "selector", "--format", "safetensors", "--out", exports, "--json");
        Assert.True(selector.ExitCode == 0, selector.Stderr + selector.Stdout);
        Assert.True(File.Exists(Path.Combine(exports, "final.pt")) && File.Exists(Path.Combine(exports, "selector.safetensors")));
        using (var description = JsonDocument.Parse(File.ReadAllText(Path.Combine(exports, "selector.json"))))
        {
            // The selector is the pruned network: its widths are the pruned ones, not resnet8's 16/32/64.
            var widths = description.RootElement.GetProperty("widths");
            Assert.NotEqual([16, 32, 64], new[] { "stage1", "stage2", "stage3" }.Select(g => widths.GetProperty(g).GetInt32()).ToArray());
            Assert.Equal("T-shirt/top", description.RootElement.GetProperty("classNames")[0].GetString());
        }

        var script = Path.Combine(root, "accuracy.py");
        File.WriteAllText(script, AccuracyScript.Replace("\n        ", "\n"));
        var testShard = Path.Combine(root, "silo", "artifacts", "datasets", "home", "test.pfs");
        var tools = Path.Combine(BuildOutput.RepoRoot, "tools", "python");
        foreach (var (json, expected) in new[] { ("final.json", finalAccuracy), ("selector.json", selectorAccuracy) })
        {
            var py = await Processes.RunAsync(Python, "apt-get install python3-torch", script, tools, Path.Combine(exports, json), testShard);
            Assert.True(py.ExitCode == 0, py.Stderr);
            var accuracy = double.Parse(py.LastLine, System.Globalization.CultureInfo.InvariantCulture);
            // Same network, same normalisation, same 10k images: at most a handful of float-rounding argmax flips.
            Assert.True(Math.Abs(accuracy - expected) <= 0.0005, $"{json}: PyTorch accuracy {accuracy}, cluster reported {expected}");
        }

        // The ONNX export runs in plain ONNX Runtime (no PruneFuse code) on the raw test-shard bytes and gives the
        // cluster's accuracy too.
        var onnxDir = Path.Combine(root, "exports-onnx");
        var onnx = await Processes.ClientAsync(port, "model", "export", "--id", "home", "--format", "onnx", "--out", onnxDir, "--json");
        Assert.True(onnx.ExitCode == 0, onnx.Stderr + onnx.Stdout);
        using (var description = JsonDocument.Parse(File.ReadAllText(Path.Combine(onnxDir, "final.json"))))
        {
            Assert.Equal("onnx", description.RootElement.GetProperty("weightsFormat").GetString());
            Assert.Equal("final.onnx", description.RootElement.GetProperty("weights").GetString());
        }
        var onnxAccuracy = OnnxAccuracy(Path.Combine(onnxDir, "final.onnx"), testShard);
        Assert.True(Math.Abs(onnxAccuracy - finalAccuracy) <= 0.0005, $"ONNX Runtime accuracy {onnxAccuracy}, cluster reported {finalAccuracy}");

        var unknown = await Processes.ClientAsync(port, "model", "export", "--experiment", "nope", "--out", Path.Combine(root, "x"));
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("unknown experiment 'nope'", unknown.Stderr);

        var reports = Path.Combine(root, "reports");
        var report = await Processes.ClientAsync(port, "experiment", "report", "--id", "home", "--html", "--out", reports);
        Assert.True(report.ExitCode == 0, report.Stderr);
        var page = Path.Combine(reports, "home.html");
        var html = File.ReadAllText(page);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org", ""));
        Assert.DoesNotContain("https://", html);
        // The spec reads as the options that start it, and the page names the final selector's accuracy.
        Assert.Contains("<tr><th>--selector</th><td>pruned</td></tr>", html);
        Assert.Contains("<tr><th>--arch</th><td>resnet8</td></tr>", html);
        Assert.Contains("<code id=\"reproduce\">prunefuse experiment start home --dataset home --arch resnet8", html);
        Assert.Contains($"<dt>final selector</dt><dd>{selectorAccuracy.ToString("P2", System.Globalization.CultureInfo.InvariantCulture)}", html);
        var chromium = new HeadlessChromium(Path.Combine(root, "chromium-profile"), 5000);
        var dom = await chromium.DumpDomAsync($"file://{page}");
        Assert.True(dom.ExitCode == 0, dom.Stderr);
        // The page's own script marks the body once every embedded plot has decoded.
        Assert.Contains("data-rendered=\"ok\"", dom.Stdout);
        Assert.Contains("id=\"rounds\"", dom.Stdout);
        Assert.Contains(finalAccuracy.ToString("P2", System.Globalization.CultureInfo.InvariantCulture), dom.Stdout);
        var shot = Path.Combine(root, "report.png");
        var screenshot = await chromium.ScreenshotAsync($"file://{page}", shot, 1200, 1600);
        Assert.True(File.Exists(shot) && new FileInfo(shot).Length > 10_000, $"no screenshot: {screenshot.Stderr}");
    }
}

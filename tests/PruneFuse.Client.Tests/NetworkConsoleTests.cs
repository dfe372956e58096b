using System.Text.Json;

namespace PruneFuse.Client.Tests;

/// <summary>
/// Bring your own network through the console and a real embedded silo: the architecture list, an experiment whose
/// θ0 is a state dict written by torchvision (uploaded, bridged and said), and refusals that name the cause.
/// </summary>
public sealed class NetworkConsoleTests
{
    // Writes torchvision.models.ARCH(num_classes=CLASSES) from a fixed seed with torch.save(model.state_dict()).
    private const string WriteWeights = """
        import sys, torch, torchvision
        torch.manual_seed(0)
        model = getattr(torchvision.models, sys.argv[1])(num_classes=int(sys.argv[2]))
        torch.save(model.state_dict(), sys.argv[3])
        """;

    private static string TorchvisionWeights(TempDir dir, string arch, int classes)
    {
        var script = Path.Combine(dir.Path, "write_weights.py");
        File.WriteAllText(script, WriteWeights);
        var file = Path.Combine(dir.Path, $"{arch}-{classes}.pt");
        DebianPython.Run(script, arch, classes.ToString(System.Globalization.CultureInfo.InvariantCulture), file);
        return file;
    }

    [Fact]
    public async Task Arch_list_shows_every_family_with_dense_and_pruned_cost()
    {
        using var dir = new TempDir("prunefuse-arch-");
        await using var silo = new SiloProcess(dir.Path);
        await silo.StartAsync();
        var list = await Processes.ClientAsync(silo.GatewayPort, "arch", "list", "--size", "224", "--classes", "1000", "--prune", "0.5", "--json");
        Assert.True(list.ExitCode == 0, list.Stderr);
        var rows = JsonDocument.Parse(list.LastLine).RootElement.GetProperty("architectures").EnumerateArray().ToList();
        JsonElement Row(string arch, string stem) => rows.Single(r => r.GetProperty("arch").GetString() == arch && r.GetProperty("stem").GetString() == stem);
        // torchvision's own parameter count for ResNet-18 on ImageNet.
        Assert.Equal(11_689_512, Row("resnet18", "imagenet").GetProperty("denseParameters").GetInt64());
        foreach (var (arch, stem) in new[] { ("resnet20", "small"), ("resnet50", "imagenet"), ("wrn-16-4", "small"), ("mobilenet_v2", "small") })
        {
            var r = Row(arch, stem);
            Assert.True(r.GetProperty("prunedMacs").GetInt64() < r.GetProperty("denseMacs").GetInt64() / 2, $"{arch}: pruning at 0.5 keeps under half the MACs");
        }
        var table = await Processes.ClientAsync(silo.GatewayPort, "arch", "list", "--size", "28", "--channels", "1");
        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Contains("mobilenet_v2", table.Stdout);
        Assert.Contains("wrn-28-10", table.Stdout);
        var bad = await Processes.ClientAsync(silo.GatewayPort, "arch", "list", "--prune", "1.5");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("pruning ratio p must be in [0, 1), got 1.5", bad.Stderr);
    }

    [Fact]
    public async Task Torchvision_weights_become_theta0_with_what_was_bridged_said_and_wrong_ones_are_refused_by_key()
    {
        using var dir = new TempDir("prunefuse-weights-");
        await using var silo = new SiloProcess(dir.Path);
        await silo.StartAsync();
        var port = silo.GatewayPort;
        var import = await Processes.ClientAsync(port, "dataset", "import", "--id", "fm", "--shards", "2", "--limit", "600");
        Assert.True(import.ExitCode == 0, import.Stderr);
        string[] Start(string id, params string[] more) =>
        [
            "experiment", "start", "--id", id, "--dataset", "fm", "--arch", "resnet18", "--stem", "imagenet", "--initial", "100",
            "--round-size", "100", "--rounds", "1", "--selector-epochs", "1", "--final-epochs", "1", "--batch-size", "50", .. more,
        ];

        // ImageNet-shaped weights (1000 classes, RGB stem) for 1-channel Fashion-MNIST with 10 classes.
        var r18 = TorchvisionWeights(dir, "resnet18", 1000);
        var start = await Processes.ClientAsync(port, Start("pre", "--init-weights", r18, "--normalize", "imagenet"));
        Assert.True(start.ExitCode == 0, start.Stderr + start.Stdout);
        Assert.Contains("uploaded resnet18-1000.pt (122 tensors, sha256:", start.Stdout);
        Assert.Contains("classifier 'fc' replaced", start.Stdout);
        Assert.Contains("has 1000 classes, the dataset 10", start.Stdout);
        Assert.Contains("stem 'conv1' summed over the 3 input channels", start.Stdout);
        Assert.Contains("inputs normalised with ImageNet's statistics", start.Stdout);
        var done = await Processes.ClientAsync(port, "experiment", "status", "--id", "pre", "--watch", "--json");
        Assert.True(done.ExitCode == 0, done.Stderr);
        Assert.Equal("completed", JsonDocument.Parse(done.LastLine).RootElement.GetProperty("state").GetString());
        var export = await Processes.ClientAsync(port, "model", "export", "--id", "pre", "--out", Path.Combine(dir.Path, "export"));
        Assert.True(export.ExitCode == 0, export.Stderr);
        using (var description = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "export", "final.json"))))
        {
            var n = description.RootElement.GetProperty("normalization");
            Assert.Equal(0.449, n.GetProperty("mean")[0].GetDouble(), 3);
            Assert.Equal("resnet18", description.RootElement.GetProperty("arch").GetString());
            Assert.Equal("imagenet", description.RootElement.GetProperty("stem").GetString());
        }

        // The same file again: found by its digest, not uploaded twice; sha256: names it without the file.
        var digest = start.Stdout[(start.Stdout.IndexOf("sha256:", StringComparison.Ordinal) + 7)..][..64];
        var again = await Processes.ClientAsync(port, Start("pre-again", "--init-weights", "sha256:" + digest));
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.DoesNotContain("uploading", again.Stdout);

        // Weights of another network: refused at start naming the first key, nothing stored.
        var r34 = TorchvisionWeights(dir, "resnet34", 10);
        var wrong = await Processes.ClientAsync(port, Start("bad-weights", "--init-weights", r34));
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("tensor 'layer1.2.bn1.bias' is not part of resnet18 (stem imagenet)", wrong.Stderr);
        var missing = await Processes.ClientAsync(port, Start("no-file", "--init-weights", Path.Combine(dir.Path, "nope.pt")));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("--init-weights: no file", missing.Stderr);
        var unknown = await Processes.ClientAsync(port, Start("no-digest", "--init-weights", "sha256:" + new string('0', 64)));
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("the cluster has no weights with that digest", unknown.Stderr);

        // Unknown names are refused with the known ones.
        var family = await Processes.ClientAsync(port, ["experiment", "start", "--id", "bad-family", "--dataset", "fm", "--arch", "vgg99"]);
        Assert.Equal(1, family.ExitCode);
        Assert.Contains("unknown architecture 'vgg99'; supported: resnet8", family.Stderr);
        Assert.Contains("mobilenet_v2", family.Stderr);
        var stem = await Processes.ClientAsync(port, ["experiment", "start", "--id", "bad-stem", "--dataset", "fm", "--arch", "resnet18", "--stem", "tiny"]);
        Assert.Equal(1, stem.ExitCode);
        Assert.Contains("resnet18 has no stem 'tiny'; it takes imagenet or small", stem.Stderr);
        var list = await Processes.ClientAsync(port, "experiment", "list", "--json");
        foreach (var id in new[] { "bad-weights", "no-file", "no-digest", "bad-family", "bad-stem" }) Assert.DoesNotContain($"\"{id}\"", list.Stdout);
    }
}

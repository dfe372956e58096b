using System.Security.Cryptography;
using System.Text.Json;

namespace PruneFuse.Client.Tests;

/// <summary>
/// A corpus of bad input driven through the console into a real silo that holds a dataset and a completed
/// experiment. Every case must be refused with a message naming the problem, and the silo's whole store (artifacts
/// and grain state) must be byte-for-byte what it was before (hashed, not assumed).
/// </summary>
public sealed class BadInputCorpusTests
{
    private static readonly string[] Tiny =
    [
        "--dataset", "fm", "--arch", "resnet8", "--initial", "100", "--round-size", "100", "--rounds", "1",
        "--selector-epochs", "1", "--final-epochs", "1", "--batch-size", "64", "--seed", "5",
    ];

    [Fact]
    public async Task Every_bad_input_is_refused_by_name_and_leaves_the_store_untouched()
    {
        using var dir = new TempDir("prunefuse-corpus-");
        await using var silo = new SiloProcess(Path.Combine(dir.Path, "silo"));
        await silo.StartAsync();
        Assert.Equal(0, (await Processes.ClientAsync(silo.GatewayPort, "dataset", "import", "--id", "fm", "--shards", "2", "--limit", "1200")).ExitCode);
        Assert.Equal(0, (await Processes.ClientAsync(silo.GatewayPort, Start("kept"))).ExitCode);
        var done = await Processes.ClientAsync(silo.GatewayPort, "experiment", "status", "--id", "kept", "--watch", "--json");
        Assert.Equal("completed", JsonDocument.Parse(done.LastLine).RootElement.GetProperty("state").GetString());

        var idx = BadIdxFolders(dir.Path);
        var out1 = Path.Combine(dir.Path, "out.csv");
        var corpus = new List<(string Name, string[] Args, string Expected)>
        {
            // Spec values out of range or missing.
            ("p = 1", Start("x", "--prune", "1"), "prune ratio p must be in [0, 1), got 1"),
            ("p = NaN", Start("x", "--prune", "NaN"), "prune ratio p must be in [0, 1), got NaN"),
            ("p negative", Start("x", "--prune", "-0.1"), "prune ratio p must be in [0, 1)"),
            ("p not a number", Start("x", "--prune", "half"), "half"),
            ("p without a value", Start("x", "--prune"), "--prune"),
            ("no id", [.. Start("x")[..2], .. Start("x")[4..]], "--id"),
            ("zero rounds", Start("x", "--rounds", "0"), "rounds must be in 1..1000, got 0"),
            ("zero round size", Start("x", "--round-size", "0"), "round size must be at least 1, got 0"),
            ("batch of one", Start("x", "--batch-size", "1"), "batch size must be in 2..65536, got 1"),
            ("alpha above 1", Start("x", "--kd-alpha", "1.5"), "distillation alpha must be in [0, 1], got 1.5"),
            ("decay above 1", Start("x", "--kd-alpha", "0.5", "--kd-decay", "2"), "distillation decay must be in [0, 1] (a fraction of the final training), got 2"),
            ("unknown arch", Start("x", "--arch", "resnet9"), "unknown architecture 'resnet9'; supported: resnet8, resnet14, resnet20, resnet32, resnet56, resnet110; resnet18"),
            ("unknown proxy arch", Start("x", "--selector", "proxy", "--proxy-arch", "vgg16"), "--proxy-arch: unknown architecture 'vgg16'; supported: resnet8, resnet14"),
            ("unknown metric", Start("x", "--metric", "badge"), "--metric must be one of least-confidence, entropy, margin, random, k-center, got 'badge'"),
            ("metric by number", Start("x", "--metric", "1"), "--metric must be one of"),
            ("pruning typo", Start("x", "--pruning", "l1"), "--pruning must be one of l2, random, got 'l1'"),
            ("label source typo", Start("x", "--label-source", "human"), "--label-source must be one of dataset, external, got 'human'"),
            ("selector typo", Start("x", "--selector", "prunned"), "--selector must be one of pruned, dense, proxy, random, got 'prunned'"),
            ("selector by number", Start("x", "--selector", "2"), "--selector must be one of"),
            ("unknown dataset", Start("x", "--dataset", "nope"), "unknown dataset 'nope'"),
            ("same id, other spec", Start("kept", "--seed", "6"), "already exists with a different spec"),
            // Oversize requests.
            ("budget beyond the pool", Start("x", "--initial", "100000000"), "budget 100000100"),
            ("100k rounds", Start("x", "--rounds", "100000"), "rounds must be in 1..1000, got 100000"),
            ("a million epochs", Start("x", "--final-epochs", "1000000"), "final epochs must be in 1..10000"),
            ("width 1000", Start("x", "--width-multiplier", "1000"), "width multiplier must be in (0, 16]"),
            ("round past the end", ["selections", "export", "--id", "kept", "--round", "99", "--out", out1], "round must be in 0..1, got 99"),
            ("200-character id", Start(new string('a', 200)), "must be 1-64 characters"),
            // Hostile names.
            ("experiment ../x", Start("../x"), "experiment id '../x'"),
            ("status of ../../etc/passwd", ["experiment", "status", "--id", "../../etc/passwd"], "'../../etc/passwd'"),
            ("dataset ../evil", ["dataset", "import", "--id", "../evil", "--limit", "100"], "dataset id '../evil'"),
            ("dataset a/b", ["dataset", "show", "--id", "a/b"], "'a/b'"),
            ("export ../x", ["model", "export", "--experiment", "../x", "--out", dir.Path], "'../x'"),
            ("selections of ..", ["selections", "export", "--id", "..", "--round", "0", "--out", out1], "'..'"),
            // Unknown ids.
            ("unknown experiment", ["experiment", "status", "--id", "ghost"], "unknown experiment 'ghost'"),
            ("cancel unknown", ["experiment", "cancel", "--id", "ghost"], "unknown experiment 'ghost'"),
            ("unknown experiment, id first", ["experiment", "status", "ghost"], "unknown experiment 'ghost'"),
            ("two ids", ["experiment", "status", "ghost", "other"], "'other'"),
            ("hostile id first", ["experiment", "report", "../x"], "'../x'"),
            ("labels for a dataset-labeled experiment", ["labels", "import", "--id", "kept", "--round", "1", "--file", WriteFile(dir.Path, "l.csv", "sample_id,label\n1,2\n")], "takes labels from the dataset"),
            // Files that are wrong.
            ("IDX with a wrong magic", ["dataset", "import", "--id", "bad-magic", "--data", idx["magic"]], "magic"),
            ("IDX with wrong dimensions", ["dataset", "import", "--id", "bad-dims", "--data", idx["dims"]], "train-images-idx3-ubyte"),
            ("truncated IDX", ["dataset", "import", "--id", "bad-trunc", "--data", idx["truncated"]], "truncated"),
            ("missing IDX folder", ["dataset", "import", "--id", "bad-none", "--data", Path.Combine(dir.Path, "nowhere")], "nowhere"),
            ("label file that is not a label file", ["labels", "import", "--id", "kept", "--round", "1", "--file", WriteFile(dir.Path, "l.json", "{not json")], "l.json"),
            ("label file that does not exist", ["labels", "import", "--id", "kept", "--round", "1", "--file", Path.Combine(dir.Path, "none.csv")], "none.csv"),
        };

        var before = Snapshot(silo.DataRoot);
        Assert.Contains(before.Keys, k => k.Contains("checkpoints/final.pfc", StringComparison.Ordinal));
        Assert.Contains(before.Keys, k => k.StartsWith("grain-state", StringComparison.Ordinal));
        var failures = new List<string>();
        foreach (var (name, args, expected) in corpus)
        {
            var r = await Processes.ClientAsync(silo.GatewayPort, args);
            if (r.ExitCode == 0) failures.Add($"{name}: accepted (exit 0): {r.Stdout}");
            else if (!r.Stderr.Contains(expected, StringComparison.Ordinal)) failures.Add($"{name}: message lacks \"{expected}\": {r.Stderr.Trim()}");
            else if (r.Stderr.Contains("   at ", StringComparison.Ordinal)) failures.Add($"{name}: a stack trace instead of one line: {r.Stderr}");
            else if (r.Stderr.Contains("Description:", StringComparison.Ordinal)) failures.Add($"{name}: the whole help page after the error: {r.Stderr}");
            var changed = Diff(before, Snapshot(silo.DataRoot));
            if (changed.Count > 0) failures.Add($"{name}: the store changed: {string.Join(", ", changed)}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // Stored files that rot: a truncated checkpoint is named when it is read, and the experiment's record stays.
        var checkpoint = before.Keys.Single(k => k.EndsWith("experiments/kept/checkpoints/final.pfc", StringComparison.Ordinal));
        var path = Path.Combine(silo.DataRoot, checkpoint);
        var bytes = await File.ReadAllBytesAsync(path);
        await File.WriteAllBytesAsync(path, bytes[..(bytes.Length / 2)]);
        var rotten = Snapshot(silo.DataRoot);
        var export = await Processes.ClientAsync(silo.GatewayPort, "model", "export", "--experiment", "kept", "--out", Path.Combine(dir.Path, "model"));
        Assert.NotEqual(0, export.ExitCode);
        Assert.Contains("final.pfc", export.Stderr);
        Assert.Empty(Diff(rotten, Snapshot(silo.DataRoot)));
        var status = await Processes.ClientAsync(silo.GatewayPort, "experiment", "status", "--id", "kept", "--json");
        Assert.Equal("completed", JsonDocument.Parse(status.LastLine).RootElement.GetProperty("state").GetString());

        // A truncated pool shard fails the next experiment with the shard named; nothing outside that experiment
        // changes.
        var shard = before.Keys.First(k => k.Contains("datasets/fm/shards/", StringComparison.Ordinal));
        var shardPath = Path.Combine(silo.DataRoot, shard);
        var shardBytes = await File.ReadAllBytesAsync(shardPath);
        await File.WriteAllBytesAsync(shardPath, shardBytes[..(shardBytes.Length - 1000)]);
        rotten = Snapshot(silo.DataRoot);
        Assert.Equal(0, (await Processes.ClientAsync(silo.GatewayPort, Start("after-rot"))).ExitCode);
        var failed = await Processes.ClientAsync(silo.GatewayPort, "experiment", "status", "--id", "after-rot", "--watch", "--json");
        var failedStatus = JsonDocument.Parse(failed.LastLine).RootElement;
        Assert.Equal("failed", failedStatus.GetProperty("state").GetString());
        Assert.Contains(Path.GetFileName(shard), failedStatus.GetProperty("error").GetString());
        Assert.All(Diff(rotten, Snapshot(silo.DataRoot)), f => Assert.Contains("after-rot", f));
    }

    /// <summary>experiment start with the tiny spec, <paramref name="overrides"/> (option, value pairs) replacing its
    /// values.</summary>
    private static string[] Start(string id, params string[] overrides)
    {
        var args = new List<string> { "experiment", "start", "--id", id };
        var values = new Dictionary<string, string?>();
        for (var i = 0; i < Tiny.Length; i += 2) values[Tiny[i]] = Tiny[i + 1];
        // An option given without a value stays last, valueless.
        string? bare = overrides.Length % 2 == 1 ? overrides[^1] : null;
        for (var i = 0; i + 1 < overrides.Length; i += 2) values[overrides[i]] = overrides[i + 1];
        if (bare is not null) values.Remove(bare);
        foreach (var (k, v) in values) args.AddRange([k, v!]);
        if (bare is not null) args.Add(bare);
        return [.. args];
    }

    private static string WriteFile(string dir, string name, string text)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Folders of Fashion-MNIST IDX files with one broken training-images file each.</summary>
    private static Dictionary<string, string> BadIdxFolders(string root)
    {
        var source = "/usr/share/datasets/fashion-mnist";
        var folders = new Dictionary<string, string>();
        foreach (var kind in new[] { "magic", "dims", "truncated" })
        {
            var dir = Directory.CreateDirectory(Path.Combine(root, "idx-" + kind)).FullName;
            foreach (var f in new[] { "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz" })
            {
                File.Copy(Path.Combine(source, f), Path.Combine(dir, f));
            }
            // Plain (not gzip) IDX: magic 0x00000803 (ubyte, 3 dimensions), then the dimensions, then pixels.
            byte[] header = kind switch
            {
                "magic" => [0x00, 0x00, 0x09, 0x03, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28],
                "dims" => [0x00, 0x00, 0x08, 0x02, 0, 0, 0, 10, 0, 0, 0x03, 0x10],
                _ => [0x00, 0x00, 0x08, 0x03, 0, 0, 0xEA, 0x60, 0, 0, 0, 28, 0, 0, 0, 28],
            };
            var pixels = kind == "dims" ? 10 * 784 : kind == "magic" ? 10 * 784 : 5000;
            File.WriteAllBytes(Path.Combine(dir, "train-images-idx3-ubyte"), [.. header, .. new byte[pixels]]);
            folders[kind] = dir;
        }
        return folders;
    }

    private static Dictionary<string, string> Snapshot(string root) =>
        Directory.Exists(root)
            ? Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                .ToDictionary(f => Path.GetRelativePath(root, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))))
            : [];

    private static List<string> Diff(Dictionary<string, string> before, Dictionary<string, string> after) =>
    [
        .. before.Keys.Except(after.Keys).Select(k => $"removed {k}"),
        .. after.Keys.Except(before.Keys).Select(k => $"added {k}"),
        .. before.Keys.Intersect(after.Keys).Where(k => before[k] != after[k]).Select(k => $"modified {k}"),
    ];
}

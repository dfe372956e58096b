using System.Buffers.Binary;
using System.Formats.Tar;
using System.Text;
using System.Text.Json;
using SkiaSharp;

namespace PruneFuse.Client.Tests;

/// <summary>Streaming import and the import formats through the console and a real silo.</summary>
public sealed class DatasetImportConsoleTests
{
    /// <summary>A pool shard as stored: ids, labels and pixels, read with the format's layout (48-byte
    /// header).</summary>
    private sealed record Shard(long[] Ids, int[] Labels, byte[] Pixels, int ImageBytes);

    private static Shard ReadShard(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.Equal("PFSHARD\n", Encoding.ASCII.GetString(bytes, 0, 8));
        var count = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(12));
        int At(int offset) => BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset));
        var imageBytes = At(16) * At(20)
            * At(24);
        var ids = Enumerable.Range(0, count).Select(i => BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(48
            + 8 * i))).ToArray();
        var labels = Enumerable.Range(0, count).Select(i => BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(48
            + 8 * count + 4 * i))).ToArray();
        var pixels = bytes.AsSpan(48 + 12 * count).ToArray();
        Assert.Equal((long)count * imageBytes, pixels.LongLength);
        return new Shard(ids, labels, pixels, imageBytes);
    }

    private static string[] Shards(string dataRoot, string dataset) =>
        [.. Directory.GetFiles(Path.Combine(dataRoot, "artifacts", "datasets", dataset, "shards"),
            "*.pfs").Order(StringComparer.Ordinal)];

    private static string[] Keys(string shard)
        => JsonSerializer.Deserialize<string[]>(File.ReadAllBytes(Path.ChangeExtension(shard, ".keys.json")))!;

    private static (byte R, byte G, byte B) Colour(int i) => ((byte)(i % 251), (byte)(i / 251 * 23 % 256),
        (byte)(i * 7 % 256));

    [Fact]
    public async Task A_pool_larger_than_the_silos_heap_streams_in_with_bounded_memory_and_shards_hold_each_image()
    {
        using var dir = new TempDir("prunefuse-stream-");
        // 3,000 solid-colour PNGs, stored at 160×160×3: 230 MB of pixels for a silo whose GC heap stops at 128 MB.
        string[] classes = ["amber", "blue", "coral"];
        var pool = Path.Combine(dir.Path, "pool");
        foreach (var c in classes) Directory.CreateDirectory(Path.Combine(pool, c));
        for (var i = 0; i < 3000; i++)
        {
            using var bitmap = new SKBitmap(40, 40);
            var (r, g, b) = Colour(i);
            bitmap.Erase(new SKColor(r, g, b));
            using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(Path.Combine(pool, classes[i % 3], $"{i:D4}.png"), png.ToArray());
        }
        Directory.CreateSymbolicLink(Path.Combine(pool, "blue", "again"), Path.Combine(pool, "amber"));
        var root = Path.Combine(dir.Path, "silo");
        await using var silo = new SiloProcess(root, environment: new() { ["DOTNET_GCHeapHardLimit"] = "0x8000000" });
        await silo.StartAsync();
        string[] Import(string shardSize) =>
            ["dataset", "import", "--id", "big", "--from", "images", pool, "--size", "160x160", "--shard-size",
                shardSize, "--test-fraction", "0.05", "--json"];
        var args = Import("16MB");

        // A dry run lists and sizes, and writes nothing. 16 MB ÷ (12 + 76,800) bytes = 218 images a shard.
        var dry = await Processes.ClientAsync(silo.GatewayPort, [.. args, "--dry-run"]);
        Assert.True(dry.ExitCode == 0, dry.Stderr);
        var plan = JsonDocument.Parse(dry.LastLine).RootElement;
        Assert.True(plan.GetProperty("dryRun").GetBoolean());
        Assert.Equal((2850, 150, 14), (plan.GetProperty("dataset").GetProperty("poolSize").GetInt32(),
            plan.GetProperty("dataset").GetProperty("testSize").GetInt32(),
            plan.GetProperty("dataset").GetProperty("shards").GetInt32()));
        Assert.InRange(plan.GetProperty("storedBytes").GetInt64(), 3000L * 76_812, 3000L * 76_812 + 16 * 48);
        Assert.Contains("1 symbolic link(s)", dry.Stderr);
        Assert.False(Directory.Exists(Path.Combine(root, "artifacts", "datasets", "big")));

        // A shard larger than the heap is said in words, with what to change.
        var tooBig = await Processes.ClientAsync(silo.GatewayPort, Import("512MB"));
        Assert.Equal(1, tooBig.ExitCode);
        Assert.Contains("ran out of memory", tooBig.Stdout + tooBig.Stderr);
        Assert.Contains("lower --shard-size", tooBig.Stdout + tooBig.Stderr);
        Assert.True(silo.Running, silo.Log);

        var before = silo.StatusBytes("VmRSS");
        var imported = await Processes.ClientAsync(silo.GatewayPort, args);
        Assert.True(imported.ExitCode == 0, imported.Stderr + silo.Log);
        var peak = silo.StatusBytes("VmHWM");
        var info = JsonDocument.Parse(imported.LastLine).RootElement.GetProperty("dataset");
        Assert.Equal((2850, 14), (info.GetProperty("poolSize").GetInt32(), info.GetProperty("shards").GetInt32()));
        TestContext.Current.TestOutputHelper?.WriteLine($"silo RSS before import {before >> 20} MB, peak "
            + $"{peak >> 20} MB");
        // Decoding the pool into one array (and copying it) would grow the silo by twice the pool, 460 MB.
        Assert.True(peak - before < 200L << 20,
            $"the silo grew from {before >> 20} MB to a peak of {peak >> 20} MB importing 230 MB of pixels");

        // Every stored sample is its source image: the colour of the file its source key names, in every pixel.
        var ids = new List<long>();
        foreach (var path in Shards(root, "big"))
        {
            var shard = ReadShard(path);
            var keys = Keys(path);
            Assert.True(shard.Pixels.Length <= 16 << 20, path);
            for (var s = 0; s < shard.Ids.Length; s++)
            {
                var index = int.Parse(Path.GetFileNameWithoutExtension(keys[s]));
                Assert.Equal(Array.IndexOf(classes, keys[s].Split('/')[0]), shard.Labels[s]);
                var (r, g, b) = Colour(index);
                var plane = shard.ImageBytes / 3;
                foreach (var (channel, value) in new[] { (0, r), (1, g), (2, b) })
                {
                    var span = shard.Pixels.AsSpan(s * shard.ImageBytes + channel * plane, plane);
                    Assert.True(span.IndexOfAnyExceptInRange((byte)Math.Max(0, value - 1), (byte)Math.Min(255, value
                        + 1)) < 0, $"{keys[s]} channel {channel}");
                }
            }
            ids.AddRange(shard.Ids);
        }
        Assert.Equal(Enumerable.Range(0, 2850).Select(i => (long)i), ids);
    }

    private static void WriteNpy(string path, string descr, long[] shape, byte[] data)
    {
        var dims = string.Join(", ", shape) + (shape.Length == 1 ? "," : "");
        var dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({dims}), }}";
        var headerLength = (dict.Length + 11 + 63) / 64 * 64 - 10;
        using var f = File.Create(path);
        f.Write([0x93, .. "NUMPY"u8, 1, 0, (byte)(headerLength & 0xFF), (byte)(headerLength >> 8)]);
        f.Write(Encoding.Latin1.GetBytes(dict.PadRight(headerLength - 1) + "\n"));
        f.Write(data);
    }

    private static byte[] Int32s(IEnumerable<int> values) => [.. values.SelectMany(BitConverter.GetBytes)];

    [Fact]
    public async Task Cifar_tar_and_manifest_import_and_a_1000_class_npy_pool_runs_a_round_exporting_source_keys()
    {
        using var dir = new TempDir("prunefuse-formats-");
        var root = Path.Combine(dir.Path, "silo");
        await using var silo = new SiloProcess(root);
        await silo.StartAsync();
        var port = silo.GatewayPort;

        // CIFAR-10 binary batches: 32×32×3 records stored exactly.
        var cifar = Directory.CreateDirectory(Path.Combine(dir.Path, "cifar")).FullName;
        var rng = new Random(11);
        var batch = new byte[400 * 3073];
        rng.NextBytes(batch);
        for (var r = 0; r < 400; r++) batch[r * 3073] = (byte)(r % 10);
        File.WriteAllBytes(Path.Combine(cifar, "data_batch_1.bin"), batch);
        File.WriteAllBytes(Path.Combine(cifar, "test_batch.bin"), batch[..(100 * 3073)]);
        var c = await Processes.ClientAsync(port, "dataset", "import", "--id", "cifar", "--from", "cifar", cifar,
            "--shard-size", "1MB", "--json");
        Assert.True(c.ExitCode == 0, c.Stderr);
        var ci = JsonDocument.Parse(c.LastLine).RootElement.GetProperty("dataset");
        Assert.Equal((400, 100, 2, 10), (ci.GetProperty("poolSize").GetInt32(), ci.GetProperty("testSize").GetInt32(),
            ci.GetProperty("shards").GetInt32(), ci.GetProperty("classes").GetInt32()));
        var first = Shards(root, "cifar")[0];
        Assert.Equal(batch.AsSpan(1, 3072).ToArray(), ReadShard(first).Pixels.AsSpan(0, 3072).ToArray());
        Assert.Equal("data_batch_1.bin#0", Keys(first)[0]);

        // WebDataset tar: key.png + key.cls; one member without a label is refused by name, then skipped.
        var tar = Path.Combine(dir.Path, "part-000.tar");
        using (var writer = new TarWriter(File.Create(tar)))
        {
            for (var i = 0; i < 40; i++)
            {
                using var bitmap = new SKBitmap(16, 16);
                bitmap.Erase(new SKColor((byte)(i * 5), 0, 0));
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile,
                    $"img{i:D2}.png") { DataStream = new MemoryStream(bitmap.Encode(SKEncodedImageFormat.Png,
                    100).ToArray()) });
                if (i != 7) writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile,
                    $"img{i:D2}.cls") { DataStream = new MemoryStream(Encoding.ASCII.GetBytes($"{i % 2}")) });
            }
        }
        var refused = await Processes.ClientAsync(port, "dataset", "import", "--id", "tar", "--from", "webdataset", tar,
            "--size", "16x16");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("part-000.tar:img07: has no .cls", refused.Stderr);
        Assert.Contains("no .cls", refused.Stderr);
        var leftovers = Path.Combine(root, "artifacts", "datasets", "tar");
        Assert.False(Directory.Exists(leftovers), string.Join(", ", Directory.Exists(leftovers)
            ? Directory.GetFileSystemEntries(leftovers, "*", SearchOption.AllDirectories) : []) + refused.Stderr);
        var skipped = await Processes.ClientAsync(port, "dataset", "import", "--id", "tar", "--from", "webdataset", tar,
            "--size", "16x16", "--skip-bad", "--json");
        Assert.True(skipped.ExitCode == 0, skipped.Stderr);
        var ti = JsonDocument.Parse(skipped.LastLine).RootElement.GetProperty("dataset");
        Assert.Equal(39, ti.GetProperty("poolSize").GetInt32() + ti.GetProperty("testSize").GetInt32());

        // A manifest row that points nowhere is named.
        File.WriteAllLines(Path.Combine(dir.Path, "rows.csv"), ["path,label", "pool/x.png,cat", "pool/y.png,dog"]);
        var nowhere = await Processes.ClientAsync(port, "dataset", "import", "--id", "rows", "--from", "manifest",
            Path.Combine(dir.Path, "rows.csv"));
        Assert.Equal(1, nowhere.ExitCode);
        Assert.Matches("pool/[xy].png", nowhere.Stderr);
        Assert.Contains("not found", nowhere.Stderr);
        var badShard = await Processes.ClientAsync(port, "dataset", "import", "--id", "rows", "--from", "manifest",
            Path.Combine(dir.Path, "rows.csv"), "--shard-size", "12 parsecs");
        Assert.Equal(1, badShard.ExitCode);
        Assert.Contains("--shard-size", badShard.Stderr);

        // 1,000 classes from NumPy arrays (8×8 gray), through a round of selection and the report.
        var npy = Directory.CreateDirectory(Path.Combine(dir.Path, "npy")).FullName;
        var pixels = new byte[3000 * 64];
        rng.NextBytes(pixels);
        WriteNpy(Path.Combine(npy, "x.npy"), "|u1", [3000, 8, 8], pixels);
        WriteNpy(Path.Combine(npy, "y.npy"), "<i4", [3000], Int32s(Enumerable.Range(0, 3000).Select(i => i % 1000)));
        WriteNpy(Path.Combine(npy, "tx.npy"), "|u1", [1000, 8, 8], pixels[..64000]);
        WriteNpy(Path.Combine(npy, "ty.npy"), "<i4", [1000], Int32s(Enumerable.Range(0, 1000)));
        var n = await Processes.ClientAsync(port, "dataset", "import", "--id", "wide", "--from", "npy",
            Path.Combine(npy, "x.npy"), "--labels", Path.Combine(npy, "y.npy"),
            "--test", Path.Combine(npy, "tx.npy"), "--test-labels", Path.Combine(npy, "ty.npy"), "--channels", "1",
                "--size", "8x8", "--json");
        Assert.True(n.ExitCode == 0, n.Stderr);
        Assert.Equal(1000,
            JsonDocument.Parse(n.LastLine).RootElement.GetProperty("dataset").GetProperty("classes").GetInt32());
        var start = await Processes.ClientAsync(port, "experiment", "start", "--id", "wide-run", "--dataset", "wide",
            "--arch", "resnet8", "--initial", "1000",
            "--round-size", "100", "--rounds", "1", "--selector-epochs", "1", "--final-epochs", "1", "--batch-size",
                "128");
        Assert.True(start.ExitCode == 0, start.Stderr);
        var done = await Processes.ClientAsync(port, "experiment", "status", "--id", "wide-run", "--watch", "--json");
        Assert.Equal("completed", JsonDocument.Parse(done.LastLine).RootElement.GetProperty("state").GetString());
        var report = await Processes.ClientAsync(port, "experiment", "report", "--id", "wide-run", "--out",
            Path.Combine(dir.Path, "report"), "--html");
        Assert.True(report.ExitCode == 0, report.Stderr);
        var exported = Path.Combine(dir.Path, "round-1.csv");
        var export = await Processes.ClientAsync(port, "selections", "export", "--id", "wide-run", "--round", "1",
            "--out", exported);
        Assert.True(export.ExitCode == 0, export.Stderr);
        var rows = File.ReadAllLines(exported);
        Assert.Equal("sample_id,shard,score,predicted,source", rows[0]);
        Assert.Equal(100, rows.Length - 1);
        // NumPy's source key is the array index, and ids follow the listing: the two agree.
        Assert.All(rows.Skip(1), r => Assert.Equal(r.Split(',')[0], r.Split(',')[4]));
    }
}

using System.IO.Compression;
using System.Text.Json;
using SkiaSharp;

namespace PruneFuse.Client.Tests;

/// <summary>Image-folder datasets through the console and a real silo: real Fashion-MNIST images written as PNG and JPEG files.</summary>
public sealed class ImageImportConsoleTests
{
    private static readonly string[] Classes = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"];

    /// <summary>The first <paramref name="count"/> Fashion-MNIST test images with their labels (IDX, gzip).</summary>
    private static (byte[][] Images, int[] Labels) FashionMnist(int count)
    {
        const string dir = "/usr/share/datasets/fashion-mnist";
        static byte[] Read(string file)
        {
            var path = Path.Combine(dir, file);
            if (!File.Exists(path)) throw new FileNotFoundException($"{path} missing: apt-get install dataset-fashion-mnist", path);
            using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
            using var ms = new MemoryStream();
            gz.CopyTo(ms);
            return ms.ToArray();
        }
        var images = Read("t10k-images-idx3-ubyte.gz");
        var labels = Read("t10k-labels-idx1-ubyte.gz");
        return ([.. Enumerable.Range(0, count).Select(i => images.AsSpan(16 + i * 784, 784).ToArray())], [.. Enumerable.Range(0, count).Select(i => (int)labels[8 + i])]);
    }

    private static void Write(string path, byte[] gray, bool jpeg)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bitmap = new SKBitmap(new SKImageInfo(28, 28, SKColorType.Gray8, SKAlphaType.Opaque));
        System.Runtime.InteropServices.Marshal.Copy(gray, 0, bitmap.GetPixels(), gray.Length);
        using var data = bitmap.Encode(jpeg ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png, 95);
        File.WriteAllBytes(path, data.ToArray());
    }

    [Fact]
    public async Task Image_folders_import_with_bad_files_refused_or_skipped_and_train_an_experiment()
    {
        using var dir = new TempDir("prunefuse-images-");
        var root = dir.Path;
        var (images, labels) = FashionMnist(600);
        var pool = Path.Combine(root, "pool");
        for (var i = 0; i < images.Length; i++) Write(Path.Combine(pool, Classes[labels[i]], $"img-{i:D4}.{(i % 3 == 0 ? "jpg" : "png")}"), images[i], i % 3 == 0);
        File.WriteAllText(Path.Combine(pool, "Bag", "README.txt"), "not an image, ignored");
        var corrupt = Path.Combine(pool, "Coat", "broken.png");
        File.WriteAllText(corrupt, "this is not a PNG");

        await using var silo = new SiloProcess(Path.Combine(root, "silo"));
        await silo.StartAsync();
        var port = silo.GatewayPort;

        // Without --skip-bad the import is refused, naming the file, and no dataset appears.
        var refused = await Processes.ClientAsync(port, "dataset", "import", "--id", "shop", "--from", "images", pool,
            "--channels", "1", "--size", "28x28", "--shard-size", "200KB");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains(corrupt, refused.Stderr);
        Assert.Contains("--skip-bad", refused.Stderr);
        var none = await Processes.ClientAsync(port, "dataset", "show", "--id", "shop");
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("unknown dataset 'shop'", none.Stderr);

        var imported = await Processes.ClientAsync(port, "dataset", "import", "--id", "shop", "--from", "images", pool,
            "--channels", "1", "--size", "28x28", "--shard-size", "200KB", "--skip-bad", "--json");
        Assert.True(imported.ExitCode == 0, imported.Stderr);
        Assert.Contains($"skipped unreadable image {corrupt}", imported.Stderr);
        var result = JsonDocument.Parse(imported.LastLine).RootElement;
        var info = result.GetProperty("dataset");
        Assert.Equal(600, info.GetProperty("poolSize").GetInt32() + info.GetProperty("testSize").GetInt32());
        Assert.Equal(120, info.GetProperty("testSize").GetInt32());
        Assert.Equal(Classes.Order(StringComparer.Ordinal), info.GetProperty("classNames").EnumerateArray().Select(e => e.GetString()!));
        Assert.Equal([1, 28, 28], info.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(1, result.GetProperty("ignored").GetInt32());

        // The same import again is a no-op; a different one under the same id is refused.
        var again = await Processes.ClientAsync(port, "dataset", "import", "--id", "shop", "--from", "images", pool,
            "--channels", "1", "--size", "28x28", "--shard-size", "200KB", "--skip-bad", "--json");
        Assert.True(JsonDocument.Parse(again.LastLine).RootElement.GetProperty("alreadyImported").GetBoolean(), again.Stdout + again.Stderr);
        var different = await Processes.ClientAsync(port, "dataset", "import", "--id", "shop", "--from", "images", pool, "--channels", "3", "--skip-bad");
        Assert.Equal(1, different.ExitCode);
        Assert.Contains("already exists", different.Stderr);

        var start = await Processes.ClientAsync(port, "experiment", "start", "--id", "shop-run", "--dataset", "shop", "--arch", "resnet8", "--initial", "200",
            "--round-size", "50", "--rounds", "1", "--selector-epochs", "2", "--final-epochs", "8", "--batch-size", "32");
        Assert.True(start.ExitCode == 0, start.Stderr);
        var done = await Processes.ClientAsync(port, "experiment", "status", "--id", "shop-run", "--watch", "--json");
        var summary = JsonDocument.Parse(done.LastLine).RootElement;
        Assert.Equal("completed", summary.GetProperty("state").GetString());
        // Ten classes of real clothing from 250 labels: well above chance (10%).
        Assert.True(summary.GetProperty("final").GetProperty("accuracy").GetDouble() > 0.3, done.LastLine);

        // An unlabeled pool (images only) with a labeled test folder: only external labels make sense.
        var unlabeled = Path.Combine(root, "unlabeled");
        for (var i = 0; i < 100; i++) Write(Path.Combine(unlabeled, $"u{i:D3}.png"), images[i], false);
        var test = Path.Combine(root, "test");
        for (var i = 100; i < 200; i++) Write(Path.Combine(test, Classes[labels[i]], $"t{i:D3}.png"), images[i], false);
        var raw = await Processes.ClientAsync(port, "dataset", "import", "--id", "raw", "--from", "images", unlabeled,
            "--test", test, "--channels", "1", "--size", "28x28", "--json");
        Assert.True(raw.ExitCode == 0, raw.Stderr);
        Assert.False(JsonDocument.Parse(raw.LastLine).RootElement.GetProperty("dataset").GetProperty("poolLabeled").GetBoolean());
        var simulated = await Processes.ClientAsync(port, "experiment", "start", "--id", "raw-run", "--dataset", "raw", "--arch", "resnet8", "--initial", "20", "--round-size", "10", "--rounds", "1");
        Assert.Equal(1, simulated.ExitCode);
        Assert.Contains("unlabeled pool", simulated.Stderr);
        var external = await Processes.ClientAsync(port, "experiment", "start", "--id", "raw-run", "--dataset", "raw", "--arch", "resnet8", "--initial", "20", "--round-size", "10", "--rounds", "1", "--label-source", "external");
        Assert.True(external.ExitCode == 0, external.Stderr);

        var missing = await Processes.ClientAsync(port, "dataset", "import", "--id", "gone", "--from", "images", Path.Combine(root, "nope"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("image folder not found", missing.Stderr);
    }
}

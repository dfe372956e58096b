using System.Formats.Tar;
using System.Text;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Data.Import;
using SkiaSharp;

namespace PruneFuse.Learning.Tests;

/// <summary>Every import format, from small files each test writes itself: pixels, labels, keys and refusals.</summary>
public class ImportFormatTests
{
    private static byte[] Png(int width, int height, int seed)
    {
        var rng = new Random(seed);
        using var bitmap = new SKBitmap(width, height);
        for (var y = 0; y < height; y++) for (var x = 0; x < width; x++) bitmap.SetPixel(x, y,
            new SKColor((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256)));
        return bitmap.Encode(SKEncodedImageFormat.Png, 100).ToArray();
    }

    private static List<DecodedShard> DecodeAll(IImageSource source, ImageImportOptions options, List<BadImage> bad) =>
        [.. StreamingImport.DecodeShards(source, [.. Enumerable.Range(0, source.Entries.Count)], options, int.MaxValue,
            0, bad)];

    private static byte[] Sample(ImageSet set, int index) => set.Pixels.AsSpan(index * set.ImageBytes,
        set.ImageBytes).ToArray();

    [Fact]
    public void Csv_and_jsonl_manifests_list_paths_and_labels_and_name_a_row_that_points_nowhere()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("imgs"));
        File.WriteAllBytes(dir.File("imgs/a,1.png"), Png(12, 12, 1));
        File.WriteAllBytes(dir.File("imgs/b.png"), Png(12, 12, 2));
        File.WriteAllText(dir.File("pool.csv"),
            "path,label\n\"imgs/a,1.png\",zebra\nimgs/b.png,ant\nimgs/gone.png,ant\n");
        var options = new ImageImportOptions(3, 12, 12);
        using (var csv = ManifestSource.Open(new SourceLocation(dir.File("pool.csv"))))
        {
            Assert.Equal(["ant", "zebra"], csv.ClassNames);
            Assert.Equal([("imgs/a,1.png", 1), ("imgs/b.png", 0), ("imgs/gone.png", 0)], csv.Entries.Select(e => (e.Key,
                e.Label)));
            var bad = new List<BadImage>();
            var set = Assert.Single(DecodeAll(csv, options, bad)).Images;
            Assert.Contains("not found", Assert.Single(bad).Reason);
            var direct = new byte[options.ImageBytes];
            ImageDecoder.DecodeFile(dir.File("imgs/a,1.png"), options, direct);
            Assert.Equal(direct, Sample(set, 0));
        }
        // JSONL with numeric labels: classes in numeric order (2 before 10).
        File.WriteAllText(dir.File("pool.jsonl"),
            "{\"path\": \"imgs/a,1.png\", \"label\": 10}\n{\"path\": \"imgs/b.png\", \"label\": 2}\n");
        using (var jsonl = ManifestSource.Open(new SourceLocation(dir.File("pool.jsonl"))))
        {
            Assert.Equal(["2", "10"], jsonl.ClassNames);
            Assert.Equal([1, 0], jsonl.Entries.Select(e => e.Label));
        }
        File.WriteAllText(dir.File("unlabeled.csv"), "x,y,z\n");
        Assert.Contains("3 fields", Assert.Throws<DataFormatException>(()
            => ManifestSource.Open(new SourceLocation(dir.File("unlabeled.csv")))).Message);
        File.WriteAllText(dir.File("unlabeled.csv"), "imgs/b.png\n\"imgs/a,1.png\"\n");
        using (var unlabeled = ManifestSource.Open(new SourceLocation(dir.File("unlabeled.csv"))))
        {
            Assert.Empty(unlabeled.ClassNames);
        }
        File.WriteAllText(dir.File("mixed.csv"), "imgs/b.png,ant\n\"imgs/a,1.png\"\n");
        Assert.Contains("label every row", Assert.Throws<DataFormatException>(()
            => ManifestSource.Open(new SourceLocation(dir.File("mixed.csv")))).Message);
        File.WriteAllText(dir.File("twice.csv"), "imgs/b.png,ant\nimgs/b.png,bee\n");
        Assert.Contains("line 2", Assert.Throws<DataFormatException>(()
            => ManifestSource.Open(new SourceLocation(dir.File("twice.csv")))).Message);
        Assert.Throws<FileNotFoundException>(() => ManifestSource.Open(new SourceLocation(dir.File("none.csv"))));
    }

    private static byte[] CifarRecords(int count, int labelBytes, int seed, Func<int, byte[]> labels)
    {
        var rng = new Random(seed);
        var data = new byte[count * (labelBytes + 3072)];
        for (var r = 0; r < count; r++)
        {
            labels(r).CopyTo(data, r * (labelBytes + 3072));
            rng.NextBytes(data.AsSpan(r * (labelBytes + 3072) + labelBytes, 3072));
        }
        return data;
    }

    [Fact]
    public void Cifar10_and_cifar100_batches_give_planar_pixels_labels_names_and_the_test_batch()
    {
        using var dir = new TempDir();
        var batch1 = CifarRecords(3, 1, 1, r => [(byte)(r * 3)]);
        var batch2 = CifarRecords(2, 1, 2, r => [(byte)9]);
        File.WriteAllBytes(dir.File("data_batch_1.bin"), batch1);
        File.WriteAllBytes(dir.File("data_batch_2.bin"), batch2);
        File.WriteAllBytes(dir.File("test_batch.bin"), CifarRecords(2, 1, 3, r => [(byte)r]));
        File.WriteAllLines(dir.File("batches.meta.txt"), ["airplane", "automobile", "bird", "cat", "deer", "dog",
            "frog", "horse", "ship", "truck", ""]);
        var options = new ImageImportOptions(3, 32, 32);
        using (var train = CifarSource.Open(new SourceLocation(dir.Path)))
        {
            Assert.Equal("truck", train.ClassNames[9]);
            Assert.Equal([0, 3, 6, 9, 9], train.Entries.Select(e => e.Label));
            Assert.Equal("data_batch_2.bin#1", train.Entries[4].Key);
            var set = Assert.Single(DecodeAll(train, options, [])).Images;
            Assert.Equal(batch1.AsSpan(1, 3072).ToArray(), Sample(set, 0));
            Assert.Equal(batch2.AsSpan(3073 + 1, 3072).ToArray(), Sample(set, 4));
        }
        using (var test = CifarSource.Open(new SourceLocation(dir.Path, TestSplit: true))) Assert.Equal(2,
            test.Entries.Count);
        File.WriteAllBytes(dir.File("data_batch_2.bin"), batch2[..5000]);
        Assert.Contains("not a whole number", Assert.Throws<DataFormatException>(()
            => CifarSource.Open(new SourceLocation(dir.Path))).Message);

        using var hundred = new TempDir();
        File.WriteAllBytes(hundred.File("train.bin"), CifarRecords(4, 2, 4, r => [(byte)(r % 20), (byte)(r * 30)]));
        File.WriteAllBytes(hundred.File("test.bin"), CifarRecords(1, 2, 5, r => [1, 2]));
        using (var fine = CifarSource.Open(new SourceLocation(hundred.Path)))
        {
            Assert.Equal(100, fine.ClassNames.Count);
            Assert.Equal([0, 30, 60, 90], fine.Entries.Select(e => e.Label));
        }
        using (var coarse = CifarSource.Open(new SourceLocation(hundred.Path, LabelKind: "coarse")))
        {
            Assert.Equal(20, coarse.ClassNames.Count);
            Assert.Equal([0, 1, 2, 3], coarse.Entries.Select(e => e.Label));
        }
        // Gray, smaller: resampled through the same path as encoded images.
        using (var fine = CifarSource.Open(new SourceLocation(hundred.Path)))
        {
            var gray = Assert.Single(DecodeAll(fine, new ImageImportOptions(1, 16, 16), [])).Images;
            Assert.Equal((1, 16, 16), (gray.Channels, gray.Height, gray.Width));
        }
        Assert.Throws<DirectoryNotFoundException>(() => CifarSource.Open(new SourceLocation(dir.File("nothing-here"))));
    }

    private static void WriteNpy(string path, string descr, long[] shape, byte[] data)
    {
        var dims = string.Join(", ", shape) + (shape.Length == 1 ? "," : "");
        var dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({dims}), }}";
        var headerLength = (dict.Length + 11 + 63) / 64 * 64 - 10; // magic(6)+version(2)+length(2), padded to 64
        var header = dict.PadRight(headerLength - 1) + "\n";
        using var f = File.Create(path);
        f.Write([0x93, .. "NUMPY"u8, 1, 0, (byte)(headerLength & 0xFF), (byte)(headerLength >> 8)]);
        f.Write(Encoding.Latin1.GetBytes(header));
        f.Write(data);
    }

    [Fact]
    public void Npy_images_channels_last_become_planar_with_labels_and_wrong_dtype_or_shape_is_refused()
    {
        using var dir = new TempDir();
        var pixels = new byte[3 * 10 * 12 * 3];
        new Random(3).NextBytes(pixels);
        WriteNpy(dir.File("x.npy"), "|u1", [3, 10, 12, 3], pixels);
        WriteNpy(dir.File("y.npy"), "<i8", [3], [.. BitConverter.GetBytes(2L), .. BitConverter.GetBytes(0L),
            .. BitConverter.GetBytes(1L)]);
        File.WriteAllLines(dir.File("names.txt"), ["cat", "dog", "eel"]);
        var options = new ImageImportOptions(3, 10, 12);
        using (var source = NumpySource.Open(new SourceLocation(dir.File("x.npy"), dir.File("y.npy"),
            dir.File("names.txt"))))
        {
            Assert.Equal(["cat", "dog", "eel"], source.ClassNames);
            Assert.Equal([("0", 2), ("1", 0), ("2", 1)], source.Entries.Select(e => (e.Key, e.Label)));
            var set = Assert.Single(DecodeAll(source, options, [])).Images;
            // Sample 1, channel 2 (blue), row 4, column 5: from [N, H, W, C] to [N, C, H, W].
            Assert.Equal(pixels[((1 * 10 + 4) * 12 + 5) * 3 + 2], set.Pixels[1 * set.ImageBytes + 2 * 120 + 4 * 12
                + 5]);
        }
        using (var unlabeled = NumpySource.Open(new SourceLocation(dir.File("x.npy")))) Assert.All(unlabeled.Entries, e
            => Assert.Equal(-1, e.Label));
        WriteNpy(dir.File("f.npy"), "<f4", [3, 10, 12], new byte[3 * 10 * 12 * 4]);
        Assert.Contains("not uint8", Assert.Throws<DataFormatException>(()
            => NumpySource.Open(new SourceLocation(dir.File("f.npy")))).Message);
        WriteNpy(dir.File("y2.npy"), "<i8", [2], new byte[16]);
        Assert.Contains("does not match", Assert.Throws<DataFormatException>(()
            => NumpySource.Open(new SourceLocation(dir.File("x.npy"), dir.File("y2.npy")))).Message);
        WriteNpy(dir.File("five.npy"), "|u1", [3, 10, 12, 5], new byte[3 * 10 * 12 * 5]);
        Assert.Contains("C = 1, 3 or 4", Assert.Throws<DataFormatException>(()
            => NumpySource.Open(new SourceLocation(dir.File("five.npy")))).Message);
        File.WriteAllBytes(dir.File("cut.npy"), File.ReadAllBytes(dir.File("x.npy"))[..200]);
        Assert.Contains("truncated", Assert.Throws<DataFormatException>(()
            => NumpySource.Open(new SourceLocation(dir.File("cut.npy")))).Message);
        File.WriteAllText(dir.File("text.npy"), "hello");
        Assert.Contains("bad magic", Assert.Throws<DataFormatException>(()
            => NumpySource.Open(new SourceLocation(dir.File("text.npy")))).Message);
    }

    private static void Member(TarWriter writer, string name, byte[] data)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) };
        writer.WriteEntry(entry);
    }

    [Fact]
    public void Webdataset_tars_pair_images_with_cls_members_and_refuse_escaping_names()
    {
        using var dir = new TempDir();
        var images = Enumerable.Range(0, 3).Select(i => Png(10, 10, 10 + i)).ToArray();
        using (var tar = new TarWriter(File.Create(dir.File("part-000.tar"))))
        {
            Member(tar, "s/a.png", images[0]);
            Member(tar, "s/a.cls", "1\n"u8.ToArray());
            Member(tar, "s/b.jpg.json", "{}"u8.ToArray());
            Member(tar, "s/b.png", images[1]);
            Member(tar, "s/b.cls", "0"u8.ToArray());
            Member(tar, "s/c.png", images[2]); // no label
        }
        var options = new ImageImportOptions(3, 10, 10);
        using (var source = WebDatasetSource.Open(new SourceLocation(dir.Path)))
        {
            Assert.Equal(["part-000.tar:s/a", "part-000.tar:s/b", "part-000.tar:s/c"], source.Entries.Select(e
                => e.Key));
            Assert.Equal(["0", "1"], source.ClassNames);
            Assert.Equal(1, source.Ignored);
            var bad = new List<BadImage>();
            var set = Assert.Single(DecodeAll(source, options, bad)).Images;
            Assert.Contains("no .cls", Assert.Single(bad).Reason);
            Assert.Equal([1, 0], set.Labels);
            var direct = new byte[options.ImageBytes];
            ImageDecoder.DecodeBytes(images[1], "b", options, direct);
            Assert.Equal(direct, Sample(set, 1));
        }
        using (var tar = new TarWriter(File.Create(dir.File("part-001.tar"))))
        {
            Member(tar, "../evil.png", images[0]);
        }
        Assert.Contains("'..'", Assert.Throws<DataFormatException>(()
            => WebDatasetSource.Open(new SourceLocation(dir.Path))).Message);
        File.WriteAllBytes(dir.File("part-001.tar"), File.ReadAllBytes(dir.File("part-000.tar"))[..700]);
        Assert.Throws<DataFormatException>(() => WebDatasetSource.Open(new SourceLocation(dir.File("part-001.tar"))));
    }

    [Fact]
    public void A_held_out_split_is_seeded_and_an_unlabeled_pool_needs_a_test_set()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("pool"));
        for (var i = 0; i < 20; i++) File.WriteAllBytes(dir.File($"pool/{i:D2}.png"), Png(8, 8, i));
        File.WriteAllLines(dir.File("m.csv"), Enumerable.Range(0, 20).Select(i
            => $"pool/{i:D2}.png,{(i % 2 == 0 ? "even" : "odd")}"));
        var format = ImageSources.Find("manifest");
        using var a = ImportPlan.Open(format, new SourceLocation(dir.File("m.csv")), null, 0.25, seed: 5);
        using var b = ImportPlan.Open(format, new SourceLocation(dir.File("m.csv")), null, 0.25, seed: 5);
        using var c = ImportPlan.Open(format, new SourceLocation(dir.File("m.csv")), null, 0.25, seed: 6);
        Assert.Equal(5, a.TestEntries.Count);
        Assert.Equal(a.TestEntries, b.TestEntries);
        Assert.NotEqual(a.TestEntries, c.TestEntries);
        Assert.Empty(a.PoolEntries.Intersect(a.TestEntries));
        Assert.Contains("unlabeled pool needs a labeled test set",
            Assert.Throws<ArgumentException>(() => ImportPlan.Open(ImageSources.Find("images"),
                new SourceLocation(dir.File("pool")), null, 0.2, 0)).Message);
        Assert.Contains("unknown import format", Assert.Throws<ArgumentException>(()
            => ImageSources.Find("parquet")).Message);
    }
}

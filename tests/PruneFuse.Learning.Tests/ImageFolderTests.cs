using PruneFuse.Learning.Data;
using PruneFuse.Learning.Data.Import;
using SkiaSharp;

namespace PruneFuse.Learning.Tests;

public class ImageFolderTests
{
    private static void Solid(string path, int width, int height, SKColor color, SKEncodedImageFormat format = SKEncodedImageFormat.Png)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bitmap = new SKBitmap(width, height);
        bitmap.Erase(color);
        using var data = bitmap.Encode(format, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    [Fact]
    public void Labeled_folder_lists_classes_in_ordinal_order_and_ignores_other_files()
    {
        using var dir = new TempDir();
        Solid(dir.File("zebra/a.png"), 8, 8, SKColors.Red);
        Solid(dir.File("ant/b.png"), 8, 8, SKColors.Red);
        Solid(dir.File("ant/c.jpg"), 8, 8, SKColors.Red, SKEncodedImageFormat.Jpeg);
        File.WriteAllText(dir.File("ant/notes.txt"), "not an image");
        var scan = ImageFolder.Scan(dir.Path);
        Assert.Equal(["ant", "zebra"], scan.ClassNames);
        Assert.Equal([("ant/b.png", 0), ("ant/c.jpg", 0), ("zebra/a.png", 1)], scan.Entries.Select(e => (e.RelativePath, e.Label)));
        Assert.Equal(1, scan.Ignored);
        Assert.True(scan.Labeled);
    }

    [Fact]
    public void Folder_of_images_only_is_an_unlabeled_pool()
    {
        using var dir = new TempDir();
        Solid(dir.File("1.png"), 8, 8, SKColors.Blue);
        Solid(dir.File("2.png"), 8, 8, SKColors.Blue);
        var scan = ImageFolder.Scan(dir.Path);
        Assert.False(scan.Labeled);
        Assert.All(scan.Entries, e => Assert.Equal(-1, e.Label));
    }

    [Fact]
    public void Missing_empty_mixed_and_single_class_folders_are_refused_by_path()
    {
        using var dir = new TempDir();
        Assert.Contains("not found", Assert.Throws<DirectoryNotFoundException>(() => ImageFolder.Scan(dir.File("nope"))).Message);
        Assert.Contains("no PNG or JPEG", Assert.Throws<DataFormatException>(() => ImageFolder.Scan(dir.Path)).Message);
        Solid(dir.File("only/a.png"), 8, 8, SKColors.Blue);
        Assert.Contains("at least 2 class", Assert.Throws<DataFormatException>(() => ImageFolder.Scan(dir.Path)).Message);
        Solid(dir.File("stray.png"), 8, 8, SKColors.Blue);
        var mixed = Assert.Throws<DataFormatException>(() => ImageFolder.Scan(dir.Path));
        Assert.Contains("stray.png", mixed.Message);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(1)]
    public void Decoding_resizes_and_stores_planar_rgb_or_luma(int channels)
    {
        using var dir = new TempDir();
        Solid(dir.File("a/wide.png"), 64, 48, new SKColor(200, 100, 50));
        Solid(dir.File("b/small.png"), 5, 7, new SKColor(10, 20, 30));
        var bad = new List<BadImage>();
        var set = DecodeAll(dir.Path, new ImageImportOptions(channels, 16, 12), 100, bad);
        Assert.Empty(bad);
        Assert.Equal([100L, 101L], set.Ids);
        Assert.Equal([0, 1], set.Labels);
        Assert.Equal((channels, 16, 12), (set.Channels, set.Height, set.Width));
        var plane = 16 * 12;
        byte[] Expected(int r, int g, int b) => channels == 3 ? [(byte)r, (byte)g, (byte)b] : [(byte)Math.Round(0.299 * r + 0.587 * g + 0.114 * b)];
        foreach (var (index, rgb) in new[] { (0, Expected(200, 100, 50)), (1, Expected(10, 20, 30)) })
        {
            for (var c = 0; c < channels; c++)
            {
                var values = set.Pixels.AsSpan(index * channels * plane + c * plane, plane).ToArray();
                // A solid image stays solid at any size (±1 for filtering round-off).
                Assert.All(values, v => Assert.InRange(v, rgb[c] - 1, rgb[c] + 1));
            }
        }
    }

    [Fact]
    public void Corrupted_and_truncated_images_are_reported_by_path_and_left_out()
    {
        using var dir = new TempDir();
        Solid(dir.File("a/good.png"), 8, 8, SKColors.Green);
        File.WriteAllText(dir.File("a/text.png"), "this is not a PNG");
        Solid(dir.File("b/cut.jpg"), 32, 32, SKColors.Green, SKEncodedImageFormat.Jpeg);
        var cut = File.ReadAllBytes(dir.File("b/cut.jpg"));
        File.WriteAllBytes(dir.File("b/cut.jpg"), cut[..20]);
        Solid(dir.File("b/fine.png"), 8, 8, SKColors.Green);
        // Cut in the middle of the pixel data: a lenient decoder would fill the missing rows and accept it.
        using (var noisy = new SKBitmap(64, 64))
        {
            var rng = new Random(1);
            for (var y = 0; y < 64; y++) for (var x = 0; x < 64; x++) noisy.SetPixel(x, y, new SKColor((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256)));
            var full = noisy.Encode(SKEncodedImageFormat.Png, 100).ToArray();
            File.WriteAllBytes(dir.File("b/half.png"), full[..(full.Length * 6 / 10)]);
        }
        var bad = new List<BadImage>();
        var set = DecodeAll(dir.Path, new ImageImportOptions(3, 8, 8), 0, bad);
        Assert.Equal([dir.File("a/text.png"), dir.File("b/cut.jpg"), dir.File("b/half.png")], bad.Select(b => b.Path).Order(StringComparer.Ordinal));
        Assert.All(bad, b => Assert.False(string.IsNullOrWhiteSpace(b.Reason)));
        Assert.Equal(2, set.Count);
        Assert.Equal([0L, 1L], set.Ids);
    }

    [Fact]
    public void Options_out_of_range_are_refused()
    {
        Assert.Contains("channels", Assert.Throws<ArgumentException>(() => new ImageImportOptions(2, 32,
            32).Validate()).Message);
        Assert.Contains("size", Assert.Throws<ArgumentException>(() => new ImageImportOptions(3, 4,
            32).Validate()).Message);
        Assert.Contains("resize policy", Assert.Throws<ArgumentException>(() => new ImageImportOptions(3, 32, 32,
            "squash").Validate()).Message);
        Assert.Contains("shard size", Assert.Throws<ArgumentException>(() => StreamingImport.ImagesPerShard(1000,
            new ImageImportOptions(3, 32, 32))).Message);
    }

    /// <summary>Every image of a folder decoded as one set (one shard), ids from <paramref name="firstId"/>.</summary>
    internal static ImageSet DecodeAll(string folder, ImageImportOptions options, long firstId, List<BadImage> bad)
    {
        using var source = ImageFolderSource.Open(new SourceLocation(folder));
        var shards = StreamingImport.DecodeShards(source, [.. Enumerable.Range(0, source.Entries.Count)], options,
            int.MaxValue, firstId, bad).ToList();
        return Assert.Single(shards).Images;
    }

    [Fact]
    public void Symlink_loops_and_second_links_to_a_folder_or_file_are_listed_once()
    {
        using var dir = new TempDir();
        Solid(dir.File("cats/a.png"), 8, 8, SKColors.Red);
        Solid(dir.File("cats/deep/b.png"), 8, 8, SKColors.Red);
        Solid(dir.File("dogs/c.png"), 8, 8, SKColors.Blue);
        Directory.CreateSymbolicLink(dir.File("cats/deep/loop"), dir.File("cats"));   // a loop back up
        Directory.CreateSymbolicLink(dir.File("dogs/more-cats"), dir.File("cats"));   // a second name of a folder
        File.CreateSymbolicLink(dir.File("dogs/c-again.png"), dir.File("dogs/c.png")); // a second name of a file
        var scan = ImageFolder.Scan(dir.Path);
        Assert.Equal([("cats/a.png", 0), ("cats/deep/b.png", 0), ("dogs/c.png", 1)], scan.Entries.Select(e
            => (e.RelativePath, e.Label)));
        Assert.Equal(3, scan.SkippedLinks);
        using var source = ImageFolderSource.Open(new SourceLocation(dir.Path));
        Assert.Contains("3 symbolic link(s)", Assert.Single(source.Notes));
    }

    [Fact]
    public void Shards_are_capped_ids_follow_the_kept_images_and_pixels_equal_a_direct_decode()
    {
        using var dir = new TempDir();
        var rng = new Random(7);
        for (var i = 0; i < 7; i++)
        {
            using var noisy = new SKBitmap(20, 14);
            for (var y = 0; y < 14; y++) for (var x = 0; x < 20; x++) noisy.SetPixel(x, y,
                new SKColor((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256)));
            Directory.CreateDirectory(dir.File(i % 2 == 0 ? "even" : "odd"));
            File.WriteAllBytes(dir.File($"{(i % 2 == 0 ? "even" : "odd")}/{i}.png"),
                noisy.Encode(SKEncodedImageFormat.Png, 100).ToArray());
        }
        File.WriteAllText(dir.File("odd/bad.png"), "not a PNG");
        var options = new ImageImportOptions(3, 16, 16);
        using var source = ImageFolderSource.Open(new SourceLocation(dir.Path));
        var bad = new List<BadImage>();
        // Two images per shard by bytes: (8 + 4 + 768) × 2 = 1,560 bytes, below the minimum cap, so asked directly.
        var shards = StreamingImport.DecodeShards(source, [.. Enumerable.Range(0, source.Entries.Count)], options, 2,
            10, bad).ToList();
        Assert.Equal(dir.File("odd/bad.png"), Assert.Single(bad).Path);
        // odd/bad.png is the last of 8 entries (even/0,2,4,6 then odd/1,3,5,bad): the last shard keeps one image. Shard
        // s
        // starts at id 10 + 2s whatever the shards before it kept.
        Assert.Equal([2, 2, 2, 1], shards.Select(s => s.Images.Count));
        Assert.Equal([10L, 11, 12, 13, 14, 15, 16], shards.SelectMany(s => s.Images.Ids));
        var keys = shards.SelectMany(s => s.Keys).ToArray();
        Assert.DoesNotContain("odd/bad.png", keys);
        var expected = new byte[options.ImageBytes];
        foreach (var shard in shards)
        {
            for (var i = 0; i < shard.Images.Count; i++)
            {
                ImageDecoder.DecodeFile(dir.File(shard.Keys[i]), options, expected);
                Assert.Equal(expected, shard.Images.Pixels.AsSpan(i * options.ImageBytes,
                    options.ImageBytes).ToArray());
            }
        }
        // Integer statistics: the same normalisation whatever the order the shards are added in.
        var forward = new PixelStatistics(3);
        foreach (var s in shards) forward.Add(s.Images);
        var backward = new PixelStatistics(3);
        foreach (var s in Enumerable.Reverse(shards)) backward.Add(s.Images);
        Assert.Equal(forward.ToNormalization().Mean, backward.ToNormalization().Mean);
        Assert.Equal(forward.ToNormalization().Std, backward.ToNormalization().Std);
        Assert.Equal(512, StreamingImport.ImagesPerShard(400_000, options));

        // Reusing one buffer for every full shard: each shard, consumed before the next, still holds its own images.
        var index = 0;
        foreach (var shard in StreamingImport.DecodeShards(source, [.. Enumerable.Range(0, source.Entries.Count)],
            options, 2, 10, [], reuseBuffer: true))
        {
            Assert.Equal(shards[index].Keys, shard.Keys);
            Assert.Equal(shards[index++].Images.Pixels, shard.Images.Pixels);
        }
        Assert.Equal(shards.Count, index);
    }

    [Fact]
    public void Shorter_side_crop_keeps_the_centre_and_stretch_keeps_everything()
    {
        using var dir = new TempDir();
        // 48×16: red, green, blue thirds. A centre crop to a square sees only green.
        using (var bitmap = new SKBitmap(48, 16))
        {
            for (var y = 0; y < 16; y++) for (var x = 0; x < 48; x++) bitmap.SetPixel(x, y, x < 16 ? SKColors.Red
                : x < 32 ? SKColors.Lime : SKColors.Blue);
            Directory.CreateDirectory(dir.Path);
            File.WriteAllBytes(dir.File("wide.png"), bitmap.Encode(SKEncodedImageFormat.Png, 100).ToArray());
        }
        var cropped = new byte[3 * 8 * 8];
        ImageDecoder.DecodeFile(dir.File("wide.png"), new ImageImportOptions(3, 8, 8,
            ImageImportOptions.ShorterSideCrop), cropped);
        Assert.All(cropped.AsSpan(0, 64).ToArray(), r => Assert.InRange(r, 0, 2));
        Assert.All(cropped.AsSpan(64, 64).ToArray(), g => Assert.InRange(g, 253, 255));
        var stretched = new byte[3 * 8 * 8];
        ImageDecoder.DecodeFile(dir.File("wide.png"), new ImageImportOptions(3, 8, 8), stretched);
        Assert.Equal(255, stretched[0]);        // red at the left edge
        Assert.Equal(255, stretched[128 + 7]);  // blue at the right edge
    }
}

using PruneFuse.Learning.Data;
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
        var scan = ImageFolder.Scan(dir.Path);
        var bad = new List<BadImage>();
        var set = ImageFolder.Decode(scan, scan.Entries, new ImageFolderOptions(channels, 16, 12), 100, bad);
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
        var scan = ImageFolder.Scan(dir.Path);
        var bad = new List<BadImage>();
        var set = ImageFolder.Decode(scan, scan.Entries, new ImageFolderOptions(3, 8, 8), 0, bad);
        Assert.Equal([dir.File("a/text.png"), dir.File("b/cut.jpg"), dir.File("b/half.png")], bad.Select(b => b.Path).Order(StringComparer.Ordinal));
        Assert.Equal(2, set.Count);
        Assert.Equal([0L, 1L], set.Ids);
    }

    [Fact]
    public void Options_out_of_range_are_refused()
    {
        Assert.Contains("channels", Assert.Throws<ArgumentException>(() => new ImageFolderOptions(2, 32, 32).Validate()).Message);
        Assert.Contains("size", Assert.Throws<ArgumentException>(() => new ImageFolderOptions(3, 4, 32).Validate()).Message);
    }
}

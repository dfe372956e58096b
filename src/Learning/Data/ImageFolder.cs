using SkiaSharp;

namespace PruneFuse.Learning.Data;

/// <summary>How images of a folder become pool samples: every image is resized (stretched) to Height×Width and stored as Channels planes.</summary>
/// <param name="Channels">1 (grayscale, ITU-R BT.601 luma) or 3 (RGB).</param>
/// <param name="Height">Stored height in pixels.</param>
/// <param name="Width">Stored width in pixels.</param>
public sealed record ImageFolderOptions(int Channels, int Height, int Width)
{
    /// <summary>Throws naming the first invalid value.</summary>
    public void Validate()
    {
        if (Channels is not (1 or 3)) throw new ArgumentException($"channels must be 1 (grayscale) or 3 (RGB), got {Channels}");
        if (Height is < 8 or > 1024 || Width is < 8 or > 1024) throw new ArgumentException($"image size must be within 8..1024 on each side, got {Height}×{Width}");
    }
}

/// <summary>One image file of a folder: its path relative to the folder and its label (−1 = unlabeled).</summary>
public sealed record ImageFolderEntry(string RelativePath, int Label);

/// <summary>What a folder holds: class names (sub-folder names, ordinal order) and the image files.</summary>
/// <param name="Root">The folder.</param>
/// <param name="ClassNames">Class names by label; empty for an unlabeled folder.</param>
/// <param name="Entries">Image files in a stable order (by class, then ordinal path).</param>
/// <param name="Ignored">Files skipped because their extension is not an image's.</param>
public sealed record ImageFolderScan(string Root, IReadOnlyList<string> ClassNames, IReadOnlyList<ImageFolderEntry> Entries, int Ignored)
{
    /// <summary>True when images come in one sub-folder per class.</summary>
    public bool Labeled => ClassNames.Count > 0;
}

/// <summary>An image that could not be decoded.</summary>
public sealed record BadImage(string Path, string Reason);

/// <summary>
/// Reads image-folder datasets: a folder with one sub-folder per class (labeled), or a folder of images with no
/// sub-folders (an unlabeled pool). PNG and JPEG, decoded with SkiaSharp.
/// </summary>
public static class ImageFolder
{
    /// <summary>File extensions read as images (case-insensitive).</summary>
    public static readonly IReadOnlyList<string> Extensions = [".png", ".jpg", ".jpeg"];

    private static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>Lists a folder's images and classes; a missing, empty or mixed folder is refused by path.</summary>
    public static ImageFolderScan Scan(string directory)
    {
        if (string.IsNullOrWhiteSpace(directory)) throw new ArgumentException("image folder path is empty");
        var root = Path.GetFullPath(directory);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"image folder not found: {root}");
        var subfolders = Directory.GetDirectories(root).Where(d => !Path.GetFileName(d).StartsWith('.')).Order(StringComparer.Ordinal).ToArray();
        var topFiles = Directory.GetFiles(root).Where(f => !Path.GetFileName(f).StartsWith('.')).ToArray();
        var ignored = 0;
        var entries = new List<ImageFolderEntry>();
        if (subfolders.Length == 0)
        {
            foreach (var f in topFiles.Order(StringComparer.Ordinal))
            {
                if (IsImage(f)) entries.Add(new ImageFolderEntry(Path.GetFileName(f), -1));
                else ignored++;
            }
            if (entries.Count == 0) throw new DataFormatException(root, $"holds no PNG or JPEG images ({string.Join(", ", Extensions)})");
            return new ImageFolderScan(root, [], entries, ignored);
        }
        var strayImages = topFiles.Where(IsImage).Take(3).ToArray();
        if (strayImages.Length > 0)
        {
            throw new DataFormatException(root, $"mixes class sub-folders with images at its top level ({string.Join(", ", strayImages.Select(Path.GetFileName))}); " +
                "use one sub-folder per class, or a folder of images only for an unlabeled pool");
        }
        ignored += topFiles.Length;
        var classes = new List<string>();
        foreach (var sub in subfolders)
        {
            var files = Directory.GetFiles(sub, "*", SearchOption.AllDirectories).Where(f => !Path.GetFileName(f).StartsWith('.')).ToArray();
            var images = files.Where(IsImage).Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal).ToArray();
            ignored += files.Length - images.Length;
            if (images.Length == 0) throw new DataFormatException(sub, "class folder holds no PNG or JPEG images");
            var label = classes.Count;
            classes.Add(Path.GetFileName(sub));
            entries.AddRange(images.Select(p => new ImageFolderEntry(p, label)));
        }
        if (classes.Count < 2) throw new DataFormatException(root, $"a labeled image folder needs at least 2 class sub-folders, found {classes.Count} ({string.Join(", ", classes)})");
        return new ImageFolderScan(root, classes, entries, ignored);
    }

    /// <summary>
    /// Decodes <paramref name="entries"/> (from <paramref name="scan"/>) into an image set with ids from
    /// <paramref name="firstId"/>. Unreadable images are collected in <paramref name="bad"/> and left out; the
    /// caller decides whether that is acceptable. <paramref name="progress"/> receives the running count.
    /// </summary>
    public static ImageSet Decode(ImageFolderScan scan, IReadOnlyList<ImageFolderEntry> entries, ImageFolderOptions options, long firstId,
        List<BadImage> bad, Action<int>? progress = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        var size = options.Channels * options.Height * options.Width;
        var pixels = new byte[(long)entries.Count * size];
        var ok = new bool[entries.Count];
        var reasons = new string?[entries.Count];
        var done = 0;
        Parallel.For(0, entries.Count, new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            try
            {
                DecodeInto(Path.Combine(scan.Root, entries[i].RelativePath), options, pixels.AsSpan(i * size, size));
                ok[i] = true;
            }
            catch (Exception e) when (e is DataFormatException or IOException or UnauthorizedAccessException)
            {
                reasons[i] = e is DataFormatException d ? d.Problem : e.Message;
            }
            var n = Interlocked.Increment(ref done);
            if (progress is not null && (n % 256 == 0 || n == entries.Count)) progress(n);
        });
        var keep = new List<int>(entries.Count);
        for (var i = 0; i < entries.Count; i++)
        {
            if (ok[i]) keep.Add(i);
            else bad.Add(new BadImage(Path.Combine(scan.Root, entries[i].RelativePath), reasons[i] ?? "unreadable"));
        }
        var kept = new byte[(long)keep.Count * size];
        for (var j = 0; j < keep.Count; j++) Buffer.BlockCopy(pixels, keep[j] * size, kept, j * size, size);
        // Ids are consecutive over the images kept, so shards stay dense id ranges.
        return new ImageSet([.. keep.Select((_, j) => firstId + j)], [.. keep.Select(i => entries[i].Label)], kept, options.Channels, options.Height, options.Width);
    }

    /// <summary>Decodes one file into planar uint8 pixels [C, H, W]; an unreadable file throws <see cref="DataFormatException"/>.</summary>
    public static void DecodeInto(string path, ImageFolderOptions options, Span<byte> destination)
    {
        // SKCodec rather than SKBitmap.Decode: the latter accepts a truncated file and fills the missing rows.
        using var codec = SKCodec.Create(path) ?? throw new DataFormatException(path, "is not a readable PNG or JPEG image");
        if (codec.Info.Width <= 0 || codec.Info.Height <= 0) throw new DataFormatException(path, "has no pixels");
        using var decoded = new SKBitmap(codec.Info.WithColorType(SKColorType.Rgba8888).WithAlphaType(SKAlphaType.Unpremul));
        var result = codec.GetPixels(decoded.Info, decoded.GetPixels());
        if (result != SKCodecResult.Success) throw new DataFormatException(path, $"is truncated or corrupted ({result})");
        using var rgba = new SKBitmap(new SKImageInfo(options.Width, options.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        // Draw-scaling handles every source colour type (gray, palette, RGB, RGBA) the same way.
        using (var canvas = new SKCanvas(rgba))
        using (var image = SKImage.FromBitmap(decoded))
        {
            canvas.Clear(SKColors.Black);
            canvas.DrawImage(image, new SKRect(0, 0, options.Width, options.Height), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
        }
        var src = rgba.GetPixelSpan();
        var plane = options.Height * options.Width;
        for (var p = 0; p < plane; p++)
        {
            byte r = src[4 * p], g = src[4 * p + 1], b = src[4 * p + 2];
            if (options.Channels == 1) destination[p] = (byte)Math.Clamp((int)Math.Round(0.299 * r + 0.587 * g + 0.114 * b), 0, 255);
            else
            {
                destination[p] = r;
                destination[plane + p] = g;
                destination[2 * plane + p] = b;
            }
        }
    }
}

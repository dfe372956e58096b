using SkiaSharp;

namespace PruneFuse.Learning.Data.Import;

/// <summary>How a source image becomes a stored sample of Channels × Height × Width.</summary>
/// <param name="Channels">1 (grayscale, ITU-R BT.601 luma) or 3 (RGB). Alpha is dropped (composited on black).</param>
/// <param name="Height">Stored height in pixels.</param>
/// <param name="Width">Stored width in pixels.</param>
/// <param name="Resize"><see cref="ImageImportOptions.Stretch"/> or <see
/// cref="ImageImportOptions.ShorterSideCrop"/>.</param>
public sealed record ImageImportOptions(int Channels, int Height, int Width, string Resize = ImageImportOptions.Stretch)
{
    /// <summary>Every image is scaled to Height × Width, whatever its aspect ratio.</summary>
    public const string Stretch = "stretch";

    /// <summary>The shorter side is scaled to the target and the centre is cropped (torchvision's Resize +
    /// CenterCrop).</summary>
    public const string ShorterSideCrop = "shorter-side-crop";

    /// <summary>Resize policies, by name.</summary>
    public static readonly IReadOnlyList<string> ResizePolicies = [Stretch, ShorterSideCrop];

    /// <summary>Bytes of one stored sample.</summary>
    public int ImageBytes => Channels * Height * Width;

    /// <summary>Throws naming the first invalid value.</summary>
    public void Validate()
    {
        if (Channels is not (1 or 3)) throw new ArgumentException($"channels must be 1 (grayscale) or 3 (RGB), got "
            + $"{Channels}");
        if (Height is < 8 or > 1024 || Width is < 8 or > 1024)
        {
            throw new ArgumentException($"image size must be within 8..1024 on each side, got {Height}×{Width}");
        }
        if (!ResizePolicies.Contains(Resize))
        {
            throw new ArgumentException($"resize policy must be one of {string.Join(", ", ResizePolicies)}, got "
                + $"'{Resize}'");
        }
    }

    /// <summary>What the stored pixels are, in words, for an import's output.</summary>
    public string Describe() =>
        $"{(Channels == 1 ? "grayscale (BT.601 luma)" : "RGB")} {Height}×{Width}, " +
        $"{(Resize == Stretch ? "stretched" : "shorter side scaled then centre-cropped")}; alpha composited on black";
}

/// <summary>
/// Decodes encoded images (PNG, JPEG) and raw uint8 pixels into planar [C, H, W] samples, one policy for every
/// source format.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Decodes an image file; an unreadable one throws <see cref="DataFormatException"/> naming it.</summary>
    public static void DecodeFile(string path, ImageImportOptions options, Span<byte> destination)
    {
        using var codec = SKCodec.Create(path) ?? throw new DataFormatException(path,
            "is not a readable PNG or JPEG image");
        Decode(codec, path, options, destination);
    }

    /// <summary>Decodes an encoded image held in memory; <paramref name="source"/> names it in errors.</summary>
    public static void DecodeBytes(byte[] encoded, string source, ImageImportOptions options, Span<byte> destination)
    {
        if (encoded.Length == 0) throw new DataFormatException(source, "is empty (0 bytes)");
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data) ?? throw new DataFormatException(source,
            "is not a readable PNG or JPEG image");
        Decode(codec, source, options, destination);
    }

    private static void Decode(SKCodec codec, string source, ImageImportOptions options, Span<byte> destination)
    {
        if (codec.Info.Width <= 0 || codec.Info.Height <= 0) throw new DataFormatException(source, "has no pixels");
        // SKCodec rather than SKBitmap.Decode: the latter accepts a truncated file and fills the missing rows.
        var info = codec.Info.WithColorType(SKColorType.Rgba8888).WithAlphaType(SKAlphaType.Unpremul);
        using var decoded = new SKBitmap(info);
        var result = codec.GetPixels(decoded.Info, decoded.GetPixels());
        if (result != SKCodecResult.Success) throw new DataFormatException(source,
            $"is truncated or corrupted ({result})");
        Resample(decoded, options, destination);
    }

    /// <summary>
    /// Stores raw uint8 pixels laid out [H, W, C] (<paramref name="channelsLast"/>) or [C, H, W], with 1, 3 or 4
    /// channels. Same size and channels: copied exactly; otherwise resampled like an encoded image.
    /// </summary>
    public static void DecodeRaw(ReadOnlySpan<byte> pixels, int channels, int height, int width, bool channelsLast,
        ImageImportOptions options, Span<byte> destination)
    {
        if (channels is not (1 or 3 or 4)) throw new ArgumentException($"raw images need 1, 3 or 4 channels, got "
            + $"{channels}");
        var plane = height * width;
        int At(int c, int p) => channelsLast ? p * channels + c : c * plane + p;
        if (height == options.Height && width == options.Width && (channels == options.Channels || channels == 4
            && options.Channels == 3))
        {
            for (var c = 0; c < options.Channels; c++)
            {
                for (var p = 0; p < plane; p++) destination[c * plane + p] = pixels[At(c, p)];
            }
            return;
        }
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var rgba = bitmap.GetPixelSpan();
        for (var p = 0; p < plane; p++)
        {
            var gray = channels == 1;
            rgba[4 * p] = pixels[At(0, p)];
            rgba[4 * p + 1] = pixels[At(gray ? 0 : 1, p)];
            rgba[4 * p + 2] = pixels[At(gray ? 0 : 2, p)];
            rgba[4 * p + 3] = channels == 4 ? pixels[At(3, p)] : (byte)255;
        }
        Resample(bitmap, options, destination);
    }

    private static void Resample(SKBitmap decoded, ImageImportOptions options, Span<byte> destination)
    {
        using var rgba = new SKBitmap(new SKImageInfo(options.Width, options.Height, SKColorType.Rgba8888,
            SKAlphaType.Unpremul));
        // Draw-scaling handles every source colour type (gray, palette, RGB, RGBA) the same way.
        using (var canvas = new SKCanvas(rgba))
        using (var image = SKImage.FromBitmap(decoded))
        {
            canvas.Clear(SKColors.Black);
            canvas.DrawImage(image, SourceRect(decoded.Width, decoded.Height, options), new SKRect(0, 0, options.Width,
                options.Height),
                new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
        }
        var src = rgba.GetPixelSpan();
        var plane = options.Height * options.Width;
        for (var p = 0; p < plane; p++)
        {
            byte r = src[4 * p], g = src[4 * p + 1], b = src[4 * p + 2];
            if (options.Channels == 1) destination[p] = (byte)Math.Clamp((int)Math.Round(0.299 * r + 0.587 * g
                + 0.114 * b), 0, 255);
            else
            {
                destination[p] = r;
                destination[plane + p] = g;
                destination[2 * plane + p] = b;
            }
        }
    }

    // The part of the source drawn: all of it (stretch), or the centred window with the target's aspect ratio.
    private static SKRect SourceRect(int width, int height, ImageImportOptions options)
    {
        if (options.Resize == ImageImportOptions.Stretch) return new SKRect(0, 0, width, height);
        var scale = Math.Max((double)options.Width / width, (double)options.Height / height);
        var w = options.Width / scale;
        var h = options.Height / scale;
        var left = (width - w) / 2;
        var top = (height - h) / 2;
        return new SKRect((float)left, (float)top, (float)(left + w), (float)(top + h));
    }
}

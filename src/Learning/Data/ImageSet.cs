namespace PruneFuse.Learning.Data;

/// <summary>
/// Images held in memory as uint8 [count, channels, height, width] with sample ids and labels
/// (label −1 = unknown). The unit that training, evaluation and scoring consume.
/// </summary>
public sealed class ImageSet
{
    /// <summary>Creates a set; validates that the arrays agree.</summary>
    public ImageSet(long[] ids, int[] labels, byte[] pixels, int channels, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(pixels);
        if (channels < 1 || height < 1 || width < 1) throw new ArgumentException($"image shape {channels}×{height}×{width} is invalid");
        if (labels.Length != ids.Length) throw new ArgumentException($"{ids.Length} ids but {labels.Length} labels");
        if ((long)ids.Length * channels * height * width != pixels.LongLength)
        {
            throw new ArgumentException($"{ids.Length} images of {channels}×{height}×{width} need {(long)ids.Length * channels * height * width} bytes, got {pixels.LongLength}");
        }
        Ids = ids;
        Labels = labels;
        Pixels = pixels;
        Channels = channels;
        Height = height;
        Width = width;
    }

    /// <summary>Sample ids, unique within a dataset.</summary>
    public long[] Ids { get; }

    /// <summary>Class labels; −1 where unknown.</summary>
    public int[] Labels { get; }

    /// <summary>Pixels, row-major [count, channels, height, width].</summary>
    public byte[] Pixels { get; }

    /// <summary>Image channels.</summary>
    public int Channels { get; }

    /// <summary>Image height.</summary>
    public int Height { get; }

    /// <summary>Image width.</summary>
    public int Width { get; }

    /// <summary>Number of images.</summary>
    public int Count => Ids.Length;

    /// <summary>Bytes per image.</summary>
    public int ImageBytes => Channels * Height * Width;

    /// <summary>A new set with the images at <paramref name="indices"/> (positions, not ids), in that order.</summary>
    public ImageSet Subset(IReadOnlyList<int> indices)
    {
        var ids = new long[indices.Count];
        var labels = new int[indices.Count];
        var bytes = (long)indices.Count * ImageBytes;
        if (bytes > Array.MaxLength) throw new ArgumentException($"{indices.Count} images of {ImageBytes} bytes exceed one in-memory set ({Array.MaxLength} bytes); stream them in shards instead");
        var pixels = new byte[bytes];
        for (var i = 0; i < indices.Count; i++)
        {
            var j = indices[i];
            ids[i] = Ids[j];
            labels[i] = Labels[j];
            Array.Copy(Pixels, (long)j * ImageBytes, pixels, (long)i * ImageBytes, ImageBytes);
        }
        return new ImageSet(ids, labels, pixels, Channels, Height, Width);
    }

    /// <summary>The first <paramref name="count"/> images.</summary>
    public ImageSet Take(int count) => Subset(Enumerable.Range(0, Math.Min(count, Count)).ToArray());

    /// <summary>Per-channel mean and standard deviation of pixel/255, for normalisation.</summary>
    public ImageNormalization ComputeNormalization()
    {
        var statistics = new Import.PixelStatistics(Channels);
        statistics.Add(this);
        return statistics.ToNormalization();
    }
}

/// <summary>Per-channel normalisation applied to pixel/255: (x − mean) / std.</summary>
/// <param name="Mean">Per-channel mean in [0, 1].</param>
/// <param name="Std">Per-channel standard deviation (positive).</param>
public sealed record ImageNormalization(float[] Mean, float[] Std)
{
    /// <summary>Fashion-MNIST's training-set statistics.</summary>
    public static ImageNormalization FashionMnist { get; } = new([0.2860f], [0.3530f]);

    /// <summary>
    /// The ImageNet statistics torchvision's pretrained weights expect, for <paramref name="channels"/> = 3; for gray
    /// images (a stem summed over RGB) the mean of the three means and of the three deviations.
    /// </summary>
    public static ImageNormalization ImageNet(int channels) => channels switch
    {
        3 => new([0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]),
        1 => new([0.449f], [0.226f]),
        _ => throw new ArgumentException($"ImageNet normalisation is defined for 1 or 3 channels, not {channels}"),
    };
}

using PruneFuse.Learning.Data;
using PruneFuse.Learning.Runtime;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Training;

/// <summary>
/// Turns uint8 images into normalised float batches on the compute device, optionally with random crop
/// (zero padding) and horizontal flip. Crop offsets and flips come from a <see cref="SeededRandom"/>, and both
/// are applied with two gathers, so augmentation costs no per-sample torch calls.
/// </summary>
public sealed class BatchPreparer
{
    private readonly ImageNormalization _norm;
    private readonly Device _device;

    /// <summary>Creates a preparer for images normalised with <paramref name="normalization"/>.</summary>
    public BatchPreparer(ImageNormalization normalization, Device? device = null)
    {
        _norm = normalization;
        _device = device ?? TorchRuntime.Device;
    }

    /// <summary>The device batches are placed on.</summary>
    public Device Device => _device;

    /// <summary>A float batch [n, C, H, W] from raw bytes of <paramref name="count"/> images.</summary>
    public Tensor Prepare(byte[] pixels, int count, int channels, int height, int width)
    {
        var raw = tensor(pixels, dtype: ScalarType.Byte).reshape(count, channels, height, width);
        return Normalize(raw);
    }

    /// <summary>Normalises a uint8 [n, C, H, W] tensor (any device) to float on the compute device.</summary>
    public Tensor Normalize(Tensor raw)
    {
        var x = raw.to(_device).to_type(ScalarType.Float32).div_(255f);
        var c = raw.shape[1];
        if (_norm.Mean.Length != c || _norm.Std.Length != c)
        {
            throw new ArgumentException($"normalisation has {_norm.Mean.Length} channels, images have {c}");
        }
        var mean = tensor(_norm.Mean, device: _device).reshape(1, c, 1, 1);
        var std = tensor(_norm.Std, device: _device).reshape(1, c, 1, 1);
        return x.sub_(mean).div_(std);
    }

    /// <summary>Randomly crops (after zero padding) and flips a uint8 batch, then normalises it.</summary>
    public Tensor Augment(Tensor raw, int padding, bool flip, SeededRandom rng)
    {
        var n = (int)raw.shape[0];
        var h = (int)raw.shape[2];
        var w = (int)raw.shape[3];
        var c = raw.shape[1];
        if (padding == 0 && !flip) return Normalize(raw);
        var padded = padding > 0 ? nn.functional.pad(raw, [padding, padding, padding, padding]) : raw;
        var rows = new long[n * h];
        var cols = new long[n * w];
        for (var i = 0; i < n; i++)
        {
            var dy = padding > 0 ? rng.NextInt(2 * padding + 1) : 0;
            var dx = padding > 0 ? rng.NextInt(2 * padding + 1) : 0;
            var mirror = flip && rng.NextInt(2) == 1;
            for (var y = 0; y < h; y++) rows[i * h + y] = dy + y;
            for (var x = 0; x < w; x++) cols[i * w + x] = dx + (mirror ? w - 1 - x : x);
        }
        var pw = padded.shape[3];
        var rowIdx = tensor(rows).reshape(n, 1, h, 1).expand(n, c, h, pw);
        var colIdx = tensor(cols).reshape(n, 1, 1, w).expand(n, c, h, w);
        var cropped = padded.gather(2, rowIdx).gather(3, colIdx);
        return Normalize(cropped);
    }
}

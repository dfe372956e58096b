using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Win32.SafeHandles;

namespace PruneFuse.Learning.Data.Import;

/// <summary>
/// A NumPy <c>.npy</c> array as an import source (format <c>npy</c>): uint8 images N×H×W or N×H×W×C (C = 1, 3 or
/// 4, C order), labels in a second <c>.npy</c> of N integers (<see cref="SourceLocation.Labels"/>; without one the
/// pool is unlabeled), class names from <see cref="SourceLocation.ClassNamesFile"/> or 0..C−1.
/// </summary>
public sealed partial class NumpySource : IImageSource
{
    private readonly SafeFileHandle _file;
    private readonly long _dataOffset;
    private readonly int _height, _width, _channels;

    private NumpySource(string path, SafeFileHandle file, long dataOffset, int height, int width, int channels,
        IReadOnlyList<string> classNames, IReadOnlyList<SourceEntry> entries)
    {
        Location = path;
        _file = file;
        _dataOffset = dataOffset;
        (_height, _width, _channels) = (height, width, channels);
        ClassNames = classNames;
        Entries = entries;
    }

    /// <summary>Opens the arrays at <paramref name="location"/>; a wrong dtype, order or shape is refused by
    /// file.</summary>
    public static IImageSource Open(SourceLocation location)
    {
        var path = location.FullPath("NumPy images");
        var images = NpyHeader.Read(path);
        if (images.Descr is not ("|u1" or "<u1" or ">u1" or "u1"))
        {
            throw new DataFormatException(path,
                $"dtype {images.Descr} is not uint8: store images as uint8 (e.g. array.astype(np.uint8))");
        }
        var shape = images.Shape;
        if (shape.Length is not (3 or 4) || shape.Length == 4 && shape[3] is not (1 or 3 or 4))
        {
            throw new DataFormatException(path,
                $"shape ({string.Join(", ", shape)}) is not N×H×W or N×H×W×C with C = 1, 3 or 4");
        }
        if (shape[1] is < 1 or > 4096 || shape[2] is < 1 or > 4096) throw new DataFormatException(path,
            $"image size {shape[1]}×{shape[2]} is outside 1..4096");
        var (count, height, width) = (shape[0], (int)shape[1], (int)shape[2]);
        var channels = shape.Length == 4 ? (int)shape[3] : 1;
        if (count is < 1 or > int.MaxValue) throw new DataFormatException(path,
            $"holds {count} images; expected 1..{int.MaxValue}");
        var expected = images.DataOffset + count * height * width * channels;
        if (images.FileLength != expected)
        {
            throw new DataFormatException(path,
                $"is {images.FileLength} bytes but its header declares {expected}: truncated or padded");
        }
        var labels = string.IsNullOrEmpty(location.Labels) ? null : ReadLabels(Path.GetFullPath(location.Labels),
            count);
        var classCount = labels is null ? 0 : labels.Max() + 1;
        if (classCount == 1) throw new DataFormatException(location.Labels!,
            "every label is 0: a labeled pool needs at least 2 classes");
        var names = labels is null ? [] : location.ClassNamesOr(classCount);
        var entries = new SourceEntry[count];
        for (var i = 0; i < count; i++) entries[i] = new SourceEntry(i.ToString(CultureInfo.InvariantCulture),
            labels?[i] ?? -1);
        return new NumpySource(path, File.OpenHandle(path), images.DataOffset, height, width, channels, names, entries);
    }

    private static int[] ReadLabels(string path, long count)
    {
        var header = NpyHeader.Read(path);
        if (header.Shape.Length != 1 || header.Shape[0] != count)
        {
            throw new DataFormatException(path,
                $"shape ({string.Join(", ", header.Shape)}) does not match the {count} images: expected ({count},)");
        }
        var size = header.Descr[1..] switch
        {
            "u1" or "i1" => 1,
            "u2" or "i2" => 2,
            "u4" or "i4" => 4,
            "u8" or "i8" => 8,
            _ => throw new DataFormatException(path,
                $"dtype {header.Descr} is not an integer type: labels must be integers"),
        };
        if (header.Descr[0] == '>') throw new DataFormatException(path,
            $"dtype {header.Descr} is big-endian; save the labels little-endian");
        if (header.FileLength != header.DataOffset + count * size) throw new DataFormatException(path,
            "is truncated: fewer labels than its header declares");
        var bytes = new byte[count * size];
        using (var f = File.OpenHandle(path)) RandomAccess.Read(f, bytes, header.DataOffset);
        var signed = header.Descr[1] == 'i';
        var labels = new int[count];
        for (var i = 0; i < count; i++)
        {
            var at = bytes.AsSpan(i * size, size);
            long v = size switch
            {
                1 => signed ? (sbyte)at[0] : at[0],
                2 => signed ? BinaryPrimitives.ReadInt16LittleEndian(at) : BinaryPrimitives.ReadUInt16LittleEndian(at),
                4 => signed ? BinaryPrimitives.ReadInt32LittleEndian(at) : BinaryPrimitives.ReadUInt32LittleEndian(at),
                _ => BinaryPrimitives.ReadInt64LittleEndian(at),
            };
            if (v is < 0 or >= 100_000) throw new DataFormatException(path,
                $"label {v} at index {i} is outside 0..99999");
            labels[i] = (int)v;
        }
        return labels;
    }

    /// <inheritdoc />
    public string Format => "npy";

    /// <inheritdoc />
    public string Location { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> ClassNames { get; }

    /// <inheritdoc />
    public IReadOnlyList<SourceEntry> Entries { get; }

    /// <inheritdoc />
    public void DecodeInto(int index, ImageImportOptions options, Span<byte> destination)
    {
        var bytes = _height * _width * _channels;
        var pixels = new byte[bytes];
        if (RandomAccess.Read(_file, pixels, _dataOffset + (long)index * bytes) != bytes)
        {
            throw new DataFormatException(Location, $"image {index} is cut short");
        }
        ImageDecoder.DecodeRaw(pixels, _channels, _height, _width, channelsLast: true, options, destination);
    }

    /// <inheritdoc />
    public void Dispose() => _file.Dispose();

    /// <summary>The header of a <c>.npy</c> file (format versions 1–3).</summary>
    private sealed partial record NpyHeader(string Descr, long[] Shape, long DataOffset, long FileLength)
    {
        public static NpyHeader Read(string path)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"NumPy file not found: {path}", path);
            using var f = File.OpenRead(path);
            var prefix = new byte[12];
            var got = f.Read(prefix);
            if (got < 10 || prefix[0] != 0x93 || !prefix.AsSpan(1, 5).SequenceEqual("NUMPY"u8))
            {
                throw new DataFormatException(path, "is not a NumPy .npy file (bad magic; expected \\x93NUMPY)");
            }
            var major = prefix[6];
            if (major is < 1 or > 3) throw new DataFormatException(path, $"unsupported .npy format version {major}");
            var (lengthBytes, headerLength) = major == 1 ? (2,
                (long)BinaryPrimitives.ReadUInt16LittleEndian(prefix.AsSpan(8))) : (4,
                BinaryPrimitives.ReadUInt32LittleEndian(prefix.AsSpan(8)));
            if (headerLength > 1 << 20) throw new DataFormatException(path,
                $"header of {headerLength} bytes is implausibly long");
            var start = 8 + lengthBytes;
            var header = new byte[headerLength];
            f.Position = start;
            if (f.Read(header) != headerLength) throw new DataFormatException(path, "is truncated inside its header");
            var text = Encoding.Latin1.GetString(header);
            var descr = DescrPattern().Match(text);
            var shape = ShapePattern().Match(text);
            if (!descr.Success || !shape.Success) throw new DataFormatException(path,
                $"header is not a NumPy array description: {text.Trim()}");
            if (FortranPattern().IsMatch(text)) throw new DataFormatException(path,
                "is in Fortran order; save it C-contiguous (np.ascontiguousarray)");
            var dims = shape.Groups[1].Value.Split(',',
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(d => long.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
                    : throw new DataFormatException(path, $"shape dimension '{d}' is not a number"))
                .ToArray();
            return new NpyHeader(descr.Groups[1].Value, dims, start + headerLength, f.Length);
        }

        [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
        private static partial Regex DescrPattern();

        [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
        private static partial Regex ShapePattern();

        [GeneratedRegex(@"'fortran_order'\s*:\s*True")]
        private static partial Regex FortranPattern();
    }
}

using System.Buffers.Binary;
using System.IO.Compression;

namespace PruneFuse.Learning.Data;

/// <summary>An IDX array of unsigned bytes (the MNIST / Fashion-MNIST file format).</summary>
/// <param name="Dimensions">Sizes of each dimension, outermost first.</param>
/// <param name="Data">The values, row-major.</param>
public sealed record IdxArray(int[] Dimensions, byte[] Data);

/// <summary>Reads IDX files, plain or gzip-compressed, validating every header field against the data.</summary>
public static class IdxFile
{
    private static readonly long MaxBytes = Array.MaxLength - 64;

    /// <summary>Reads <paramref name="path"/>; throws <see cref="DataFormatException"/> naming the file and problem.</summary>
    public static IdxArray Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"IDX file not found: {path}", path);
        using var file = File.OpenRead(path);
        return Read(file, path);
    }

    /// <summary>Reads an IDX array from <paramref name="stream"/>; <paramref name="source"/> names it in errors.</summary>
    public static IdxArray Read(Stream stream, string source)
    {
        byte[] raw;
        try
        {
            raw = ReadMaybeGzip(stream);
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(source, $"corrupted gzip data ({e.Message})", e);
        }
        catch (EndOfStreamException e)
        {
            throw new DataFormatException(source, "truncated gzip data", e);
        }
        catch (IOException e) when (e is not DataFormatException)
        {
            throw new DataFormatException(source, $"could not be read: {e.Message}", e);
        }
        if (raw.Length < 4) throw new DataFormatException(source, $"too short for an IDX header ({raw.Length} bytes)");
        if (raw[0] != 0 || raw[1] != 0)
        {
            throw new DataFormatException(source, $"wrong magic number 0x{raw[0]:x2}{raw[1]:x2}{raw[2]:x2}{raw[3]:x2}: an IDX file starts with two zero bytes");
        }
        if (raw[2] != 0x08) throw new DataFormatException(source, $"unsupported IDX data type 0x{raw[2]:x2}: only unsigned bytes (0x08) are supported");
        var ndim = raw[3];
        if (ndim is < 1 or > 4) throw new DataFormatException(source, $"unsupported number of dimensions {ndim} (expected 1 to 4)");
        var headerLength = 4 + 4 * ndim;
        if (raw.Length < headerLength) throw new DataFormatException(source, $"truncated header: {ndim} dimensions need {headerLength} bytes, file has {raw.Length}");
        var dims = new int[ndim];
        long expected = 1;
        for (var i = 0; i < ndim; i++)
        {
            var d = BinaryPrimitives.ReadInt32BigEndian(raw.AsSpan(4 + 4 * i));
            if (d <= 0) throw new DataFormatException(source, $"dimension {i} has size {d}");
            dims[i] = d;
            expected *= d;
            if (expected > MaxBytes) throw new DataFormatException(source, $"declares more than {MaxBytes} values");
        }
        var actual = raw.LongLength - headerLength;
        if (actual < expected) throw new DataFormatException(source, $"truncated: header declares {string.Join("×", dims)} = {expected} values, file has {actual}");
        if (actual > expected) throw new DataFormatException(source, $"{actual - expected} unexpected bytes after the {string.Join("×", dims)} values declared by the header");
        return new IdxArray(dims, raw.AsSpan(headerLength).ToArray());
    }

    private static byte[] ReadMaybeGzip(Stream stream)
    {
        using var buffered = new MemoryStream();
        stream.CopyTo(buffered);
        var bytes = buffered.ToArray();
        if (bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
        {
            using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var output = new MemoryStream();
            gz.CopyTo(output);
            return output.ToArray();
        }
        return bytes;
    }
}

using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace PruneFuse.Learning.Data;

/// <summary>Header of a pool shard.</summary>
/// <param name="FormatVersion">Format version (currently 1).</param>
/// <param name="SampleCount">Number of samples.</param>
/// <param name="Channels">Image channels.</param>
/// <param name="Height">Image height.</param>
/// <param name="Width">Image width.</param>
/// <param name="NumClasses">Classes of the dataset the shard belongs to.</param>
public sealed record PoolShardHeader(int FormatVersion, int SampleCount, int Channels, int Height, int Width, int NumClasses)
{
    /// <summary>Bytes per image.</summary>
    public int ImageBytes => Channels * Height * Width;

    /// <summary>Exact file length implied by the header.</summary>
    public long FileLength => PoolShardFormat.HeaderLength + (long)SampleCount * (8 + 4 + ImageBytes);
}

/// <summary>One batch streamed from a shard.</summary>
/// <param name="Ids">Sample ids of the batch.</param>
/// <param name="Labels">Labels (−1 = unknown).</param>
/// <param name="Pixels">uint8 pixels [count, C, H, W].</param>
public sealed record ShardBatch(long[] Ids, int[] Labels, byte[] Pixels)
{
    /// <summary>Samples in the batch.</summary>
    public int Count => Ids.Length;
}

/// <summary>
/// The pool-shard binary format: a 48-byte little-endian header (magic <c>PFSHARD</c>+LF, version, sample count,
/// channels, height, width, dtype, classes, payload CRC-32, header CRC-32), then sample ids (int64), labels (int32,
/// −1 = unknown) and pixels (uint8, [count, C, H, W]). The payload CRC covers ids, labels and pixels, so any
/// flipped or missing byte is detected.
/// </summary>
public static class PoolShardFormat
{
    /// <summary>Current format version.</summary>
    public const int Version = 1;

    /// <summary>Header length in bytes.</summary>
    public const int HeaderLength = 48;

    /// <summary>Largest sample count a shard may declare.</summary>
    public const int MaxSamples = 16_000_000;

    private static ReadOnlySpan<byte> Magic => "PFSHARD\n"u8;

    private const byte DtypeUInt8 = 1;

    /// <summary>Writes <paramref name="set"/> as one shard to <paramref name="output"/>.</summary>
    public static void Write(Stream output, ImageSet set, int numClasses)
    {
        using var shard = OpenRead(set, numClasses);
        shard.CopyTo(output);
    }

    /// <summary>
    /// <paramref name="set"/> as a readable, seekable shard stream over its arrays: the pixels are not copied, so
    /// uploading a shard costs no second copy of it in memory.
    /// </summary>
    public static Stream OpenRead(ImageSet set, int numClasses)
    {
        if (set.Count > MaxSamples) throw new ArgumentException($"a shard holds at most {MaxSamples} samples, got {set.Count}");
        // The writer enforces what the reader checks, so every written shard can be read back.
        if (set.Channels > 4 || set.Height > 4096 || set.Width > 4096) throw new ArgumentException($"shard images must be at most 4×4096×4096, got {set.Channels}×{set.Height}×{set.Width}");
        if (numClasses is < 2 or > 100_000) throw new ArgumentException($"number of classes must be in 2..100000, got {numClasses}");
        var badLabel = Array.FindIndex(set.Labels, l => l < -1 || l >= numClasses);
        if (badLabel >= 0) throw new ArgumentException($"sample {set.Ids[badLabel]} has label {set.Labels[badLabel]}, outside -1..{numClasses - 1}");
        if (set.Ids.Distinct().Count() != set.Count) throw new ArgumentException("sample ids within a shard must be unique");
        var idBytes = MemoryMarshal.AsBytes(set.Ids.AsSpan()).ToArray();
        var labelBytes = MemoryMarshal.AsBytes(set.Labels.AsSpan()).ToArray();
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("pool shards are written on little-endian machines only");
        var crc = new Crc32();
        crc.Append(idBytes);
        crc.Append(labelBytes);
        crc.Append(set.Pixels);
        var header = new byte[HeaderLength];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), Version);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(12), set.Count);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(16), set.Channels);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(20), set.Height);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(24), set.Width);
        header[28] = DtypeUInt8;
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(32), numClasses);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(40), crc.GetCurrentHashAsUInt32());
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(44), Crc32.HashToUInt32(header.AsSpan(0, 44)));
        return new ConcatenatedStream([header, idBytes, labelBytes, set.Pixels]);
    }

    /// <summary>Writes a shard file at <paramref name="path"/> atomically (temp file + rename).</summary>
    public static void WriteFile(string path, ImageSet set, int numClasses)
    {
        var tmp = path + ".tmp";
        using (var f = File.Create(tmp))
        {
            Write(f, set, numClasses);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads a whole shard file into memory, verifying it.</summary>
    public static (PoolShardHeader Header, ImageSet Images) ReadFile(string path)
    {
        using var f = File.OpenRead(path);
        using var reader = new PoolShardReader(f, path);
        return (reader.Header, reader.ReadAll());
    }

    internal static PoolShardHeader ParseHeader(ReadOnlySpan<byte> h, string source, out uint payloadCrc)
    {
        if (h.Length < HeaderLength) throw new DataFormatException(source, $"truncated header: {h.Length} of {HeaderLength} bytes");
        if (!h[..8].SequenceEqual(Magic)) throw new DataFormatException(source, "not a pool shard (bad magic; expected 'PFSHARD')");
        var version = BinaryPrimitives.ReadInt32LittleEndian(h[8..]);
        if (version != Version) throw new DataFormatException(source, $"unsupported format version {version} (this build reads version {Version})");
        var headerCrc = BinaryPrimitives.ReadUInt32LittleEndian(h[44..]);
        if (Crc32.HashToUInt32(h[..44]) != headerCrc) throw new DataFormatException(source, "header checksum mismatch: the header is corrupted");
        var count = BinaryPrimitives.ReadInt32LittleEndian(h[12..]);
        var c = BinaryPrimitives.ReadInt32LittleEndian(h[16..]);
        var hh = BinaryPrimitives.ReadInt32LittleEndian(h[20..]);
        var w = BinaryPrimitives.ReadInt32LittleEndian(h[24..]);
        var classes = BinaryPrimitives.ReadInt32LittleEndian(h[32..]);
        if (count is < 0 or > MaxSamples) throw new DataFormatException(source, $"field sampleCount: {count} is outside 0..{MaxSamples}");
        if (c is < 1 or > 4) throw new DataFormatException(source, $"field channels: {c} is outside 1..4");
        if (hh is < 1 or > 4096 || w is < 1 or > 4096) throw new DataFormatException(source, $"field shape: {hh}×{w} is outside 1..4096");
        if (h[28] != DtypeUInt8) throw new DataFormatException(source, $"field dtype: {h[28]} is not uint8 (1)");
        if (classes is < 2 or > 100_000) throw new DataFormatException(source, $"field numClasses: {classes} is outside 2..100000");
        payloadCrc = BinaryPrimitives.ReadUInt32LittleEndian(h[40..]);
        return new PoolShardHeader(version, count, c, hh, w, classes);
    }
}

/// <summary>
/// Streams a pool shard: the header, ids and labels are read and checked on open; pixels are read batch by
/// batch so memory stays at one batch. The payload checksum is verified when the last batch is read, and a
/// mismatch throws <see cref="DataFormatException"/> — consumers must treat a shard's results as valid only
/// once the stream completes.
/// </summary>
public sealed class PoolShardReader : IDisposable
{
    private readonly Stream _stream;
    private readonly string _source;
    private readonly uint _payloadCrc;
    private readonly Crc32 _crc = new();
    private int _pixelsRead;

    /// <summary>Opens a shard on <paramref name="stream"/>; <paramref name="source"/> names it in errors.</summary>
    public PoolShardReader(Stream stream, string source)
    {
        _stream = stream;
        _source = source;
        var header = new byte[PoolShardFormat.HeaderLength];
        var got = ReadFully(header);
        Header = PoolShardFormat.ParseHeader(header.AsSpan(0, got), source, out _payloadCrc);
        if (stream.CanSeek && stream.Length != Header.FileLength)
        {
            throw new DataFormatException(source, stream.Length < Header.FileLength
                ? $"truncated: header declares {Header.SampleCount} samples ({Header.FileLength} bytes), file has {stream.Length}"
                : $"{stream.Length - Header.FileLength} unexpected bytes after the {Header.SampleCount} samples declared by the header");
        }
        var idBytes = new byte[Header.SampleCount * 8L];
        var labelBytes = new byte[Header.SampleCount * 4L];
        if (ReadFully(idBytes) != idBytes.Length || ReadFully(labelBytes) != labelBytes.Length)
        {
            throw new DataFormatException(source, $"truncated: ids and labels of {Header.SampleCount} samples are incomplete");
        }
        _crc.Append(idBytes);
        _crc.Append(labelBytes);
        Ids = MemoryMarshal.Cast<byte, long>(idBytes).ToArray();
        Labels = MemoryMarshal.Cast<byte, int>(labelBytes).ToArray();
        var badLabel = Array.FindIndex(Labels, l => l < -1 || l >= Header.NumClasses);
        if (badLabel >= 0)
        {
            throw new DataFormatException(source, $"field labels: sample {Ids[badLabel]} has label {Labels[badLabel]}, outside -1..{Header.NumClasses - 1}");
        }
    }

    /// <summary>The validated header.</summary>
    public PoolShardHeader Header { get; }

    /// <summary>All sample ids of the shard.</summary>
    public long[] Ids { get; }

    /// <summary>All labels of the shard (−1 = unknown).</summary>
    public int[] Labels { get; }

    /// <summary>Streams the pixels in batches of <paramref name="batchSize"/>; verifies the checksum at the end.</summary>
    public IEnumerable<ShardBatch> ReadBatches(int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (_pixelsRead != 0) throw new InvalidOperationException("a shard stream can be read once");
        var imageBytes = Header.ImageBytes;
        while (_pixelsRead < Header.SampleCount)
        {
            var n = Math.Min(batchSize, Header.SampleCount - _pixelsRead);
            var pixels = new byte[(long)n * imageBytes];
            var got = ReadFully(pixels);
            if (got != pixels.Length)
            {
                throw new DataFormatException(_source, $"truncated: pixels end after {_pixelsRead + got / imageBytes} of {Header.SampleCount} samples");
            }
            _crc.Append(pixels);
            var start = _pixelsRead;
            _pixelsRead += n;
            if (_pixelsRead == Header.SampleCount) VerifyChecksum();
            yield return new ShardBatch(Ids[start..(start + n)], Labels[start..(start + n)], pixels);
        }
        if (Header.SampleCount == 0) VerifyChecksum();
    }

    /// <summary>Reads every pixel into an <see cref="ImageSet"/>, verifying the checksum.</summary>
    public ImageSet ReadAll()
    {
        var total = (long)Header.SampleCount * Header.ImageBytes;
        if (total > Array.MaxLength)
        {
            throw new DataFormatException(_source, $"{Header.SampleCount} samples of {Header.ImageBytes} bytes do not fit in memory at once; stream the shard with ReadBatches");
        }
        var pixels = new byte[total];
        var offset = 0L;
        foreach (var b in ReadBatches(Math.Max(1, (16 << 20) / Header.ImageBytes)))
        {
            Array.Copy(b.Pixels, 0, pixels, offset, b.Pixels.Length);
            offset += b.Pixels.Length;
        }
        return new ImageSet(Ids, Labels, pixels, Header.Channels, Header.Height, Header.Width);
    }

    private void VerifyChecksum()
    {
        if (_stream.ReadByte() != -1)
        {
            throw new DataFormatException(_source, "unexpected bytes after the samples declared by the header");
        }
        if (_crc.GetCurrentHashAsUInt32() != _payloadCrc)
        {
            throw new DataFormatException(_source, "payload checksum mismatch: sample ids, labels or pixels are corrupted");
        }
    }

    private int ReadFully(byte[] buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = _stream.Read(buffer, total, buffer.Length - total);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    /// <inheritdoc />
    public void Dispose() => _stream.Dispose();
}

namespace PruneFuse.Learning.Data;

/// <summary>A read-only, seekable stream over byte arrays read one after another, without copying them.</summary>
internal sealed class ConcatenatedStream(byte[][] parts) : Stream
{
    private readonly long _length = parts.Sum(p => p.LongLength);
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => _position = value is >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var total = 0;
        long start = 0;
        foreach (var part in parts)
        {
            if (buffer.Length == 0) break;
            var end = start + part.LongLength;
            if (_position < end)
            {
                var from = _position - start;
                var n = (int)Math.Min(buffer.Length, part.LongLength - from);
                part.AsSpan().Slice((int)from, n).CopyTo(buffer);
                buffer = buffer[n..];
                _position += n;
                total += n;
            }
            start = end;
        }
        return total;
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => _length + offset,
    };

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

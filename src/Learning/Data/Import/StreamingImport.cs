namespace PruneFuse.Learning.Data.Import;

/// <summary>A sample that could not be decoded.</summary>
/// <param name="Path">The file, or the source key, that failed.</param>
/// <param name="Reason">Why.</param>
public sealed record BadImage(string Path, string Reason);

/// <summary>One shard's worth of decoded samples, with each sample's source key.</summary>
/// <param name="Images">The decoded samples; ids consecutive from the shard's first.</param>
/// <param name="Keys">Source keys, by position.</param>
public sealed record DecodedShard(ImageSet Images, string[] Keys);

/// <summary>
/// Decodes a source shard by shard, so an import holds one shard's pixels (and the one being written) whatever the
/// pool's size.
/// </summary>
public static class StreamingImport
{
    /// <summary>Default shard size cap: 256 MB.</summary>
    public const long DefaultShardBytes = 256L << 20;

    /// <summary>Smallest shard size cap accepted: 64 KB.</summary>
    public const long MinShardBytes = 64L << 10;

    /// <summary>Largest shard size cap: one shard is read into one array, so it stays below 2 GB.</summary>
    public const long MaxShardBytes = 1L << 30;

    /// <summary>Samples per shard for a byte cap (ids, labels and pixels count; at least one sample).</summary>
    public static int ImagesPerShard(long shardBytes, ImageImportOptions options)
    {
        if (shardBytes is < MinShardBytes or > MaxShardBytes)
        {
            throw new ArgumentException($"shard size must be within {MinShardBytes >> 10} KB..{MaxShardBytes >> 20} "
                + $"MB, got {shardBytes} bytes");
        }
        return (int)Math.Clamp(shardBytes / (8 + 4 + options.ImageBytes), 1, PoolShardFormat.MaxSamples);
    }

    /// <summary>
    /// Decodes <paramref name="entries"/> (positions in <paramref name="source"/>'s listing) into shards of at most
    /// <paramref name="perShard"/> samples; shard <c>s</c> holds entries <c>s·perShard…</c> with ids from
    /// <c><paramref name="firstId"/> + s·perShard</c>, consecutive over the samples it keeps, so a sample's id depends
    /// only on the listing and the shard size, not on which silo decoded which shard (a bad image leaves a gap at its
    /// shard's end). Undecodable samples go to <paramref name="bad"/> and are left out. With
    /// <paramref name="reuseBuffer"/>, every full shard is decoded into the same pixel array, so a consumer must be
    /// done
    /// with a shard (write it) before it asks for the next: memory then stays at one shard, where fresh arrays would
    /// pile up until the GC gets round to them (+1.9 GB for a 2.6 GB pool, measured).
    /// </summary>
    public static IEnumerable<DecodedShard> DecodeShards(IImageSource source, IReadOnlyList<int> entries,
        ImageImportOptions options, int perShard,
        long firstId, List<BadImage> bad, bool reuseBuffer = false, Action<long>? progress = null,
            CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perShard, 1);
        byte[]? full = null;
        long decoded = 0;
        for (var start = 0; start < entries.Count; start += perShard)
        {
            var count = Math.Min(perShard, entries.Count - start);
            var buffer = reuseBuffer && count == perShard ? full ??= new byte[(long)count * options.ImageBytes] : null;
            var before = decoded;
            var shard = DecodeShard(source, entries, start, count, options, firstId + start, bad, buffer, n
                => progress?.Invoke(before + n), cancellationToken);
            decoded += count;
            progress?.Invoke(decoded);
            if (shard is not null) yield return shard;
        }
    }

    /// <summary>
    /// Decodes <paramref name="count"/> entries from position <paramref name="start"/> of <paramref name="entries"/>
    /// as one shard with ids from <paramref name="firstId"/> over the samples kept (null when none is readable), into
    /// <paramref name="buffer"/> when given (exactly <paramref name="count"/> images long) or a new array.
    /// </summary>
    public static DecodedShard? DecodeShard(IImageSource source, IReadOnlyList<int> entries, int start, int count,
        ImageImportOptions options, long firstId,
        List<BadImage> bad, byte[]? buffer = null, Action<long>? progress = null,
            CancellationToken cancellationToken = default)
    {
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        var size = options.ImageBytes;
        var pixels = buffer ?? new byte[(long)count * size];
        if (pixels.LongLength != (long)count * size) throw new ArgumentException($"a buffer for {count} images needs "
            + $"{(long)count * size} bytes, got {pixels.LongLength}");
        var failures = new BadImage?[count];
        long decoded = 0;
        Parallel.For(0, count, new ParallelOptions { CancellationToken = cancellationToken,
            MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            try
            {
                source.DecodeInto(entries[start + i], options, pixels.AsSpan().Slice((int)((long)i * size), size));
            }
            catch (Exception e) when (e is DataFormatException or IOException or UnauthorizedAccessException
                or ArgumentException)
            {
                // A format error names the file (or member) itself; any other error is named by the source key.
                failures[i] = e is DataFormatException d ? new BadImage(d.SourceName, d.Problem)
                    : new BadImage(source.Entries[entries[start + i]].Key, e.Message);
            }
            var n = Interlocked.Increment(ref decoded);
            if (progress is not null && n % 64 == 0) progress(n);
        });
        var kept = Enumerable.Range(0, count).Where(i => failures[i] is null).ToArray();
        lock (bad) bad.AddRange(failures.OfType<BadImage>());
        if (kept.Length == 0) return null;
        if (kept.Length < count)
        {
            // Bad samples leave the shard: move the good ones down into an exact-size array.
            var compact = new byte[(long)kept.Length * size];
            for (var j = 0; j < kept.Length; j++) Array.Copy(pixels, (long)kept[j] * size, compact, (long)j * size,
                size);
            pixels = compact;
        }
        var ids = kept.Select((_, j) => firstId + j).ToArray();
        var labels = kept.Select(i => Math.Max(-1, source.Entries[entries[start + i]].Label)).ToArray();
        var keys = kept.Select(i => source.Entries[entries[start + i]].Key).ToArray();
        return new DecodedShard(new ImageSet(ids, labels, pixels, options.Channels, options.Height, options.Width),
            keys);
    }
}

/// <summary>
/// Per-channel pixel sums in integers, so the normalisation is the same whatever the order the shards are added in
/// or how many silos add them.
/// </summary>
public sealed class PixelStatistics(int channels)
{
    private readonly long[] _sum = new long[channels];
    private readonly long[] _squares = new long[channels];
    private long _pixelsPerChannel;

    /// <summary>Statistics from stored sums (another silo's, or a written shard's).</summary>
    public static PixelStatistics FromSums(long[] sums, long[] squares, long pixelsPerChannel)
    {
        if (sums.Length != squares.Length
            || sums.Length == 0) throw new ArgumentException($"{sums.Length} channel sums but {squares.Length} sums "
            + $"of squares");
        var s = new PixelStatistics(sums.Length);
        sums.CopyTo(s._sum, 0);
        squares.CopyTo(s._squares, 0);
        s._pixelsPerChannel = pixelsPerChannel;
        return s;
    }

    /// <summary>Per-channel sums of pixel values.</summary>
    public long[] Sums => [.. _sum];

    /// <summary>Per-channel sums of squared pixel values.</summary>
    public long[] Squares => [.. _squares];

    /// <summary>Pixels added per channel.</summary>
    public long PixelsPerChannel => _pixelsPerChannel;

    /// <summary>Adds every image of <paramref name="set"/>.</summary>
    public void Add(ImageSet set)
    {
        if (set.Channels != _sum.Length) throw new ArgumentException($"statistics of {_sum.Length} channels cannot "
            + $"add {set.Channels}-channel images");
        var plane = set.Height * set.Width;
        for (var i = 0; i < set.Count; i++)
        {
            for (var c = 0; c < set.Channels; c++)
            {
                var pixels = set.Pixels.AsSpan().Slice((int)((long)i * set.ImageBytes + (long)c * plane), plane);
                long s = 0, s2 = 0;
                foreach (var v in pixels)
                {
                    s += v;
                    s2 += v * v;
                }
                _sum[c] += s;
                _squares[c] += s2;
            }
        }
        _pixelsPerChannel += (long)set.Count * plane;
    }

    /// <summary>Adds another accumulator's sums (e.g. another silo's).</summary>
    public void Add(PixelStatistics other)
    {
        for (var c = 0; c < _sum.Length; c++)
        {
            _sum[c] += other._sum[c];
            _squares[c] += other._squares[c];
        }
        _pixelsPerChannel += other._pixelsPerChannel;
    }

    /// <summary>Mean and standard deviation of pixel/255 per channel.</summary>
    public ImageNormalization ToNormalization()
    {
        if (_pixelsPerChannel == 0) throw new InvalidOperationException("no pixels were added");
        var n = (double)_pixelsPerChannel;
        var mean = _sum.Select(s => s / n / 255.0).ToArray();
        var sd = _squares.Select((s, c) => Math.Sqrt(Math.Max(1e-12,
            s / n / (255.0 * 255.0) - mean[c] * mean[c]))).ToArray();
        return new ImageNormalization([.. mean.Select(x => (float)x)], [.. sd.Select(x => (float)x)]);
    }
}

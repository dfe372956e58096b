namespace PruneFuse.Learning.Runtime;

/// <summary>
/// Deterministic pseudo-random source (xoshiro256** seeded through SplitMix64). We use our own generator
/// instead of <see cref="System.Random"/> or torch's global generator so that every random choice is a pure
/// function of the experiment seed, identical on every silo, thread and .NET version.
/// </summary>
public sealed class SeededRandom
{
    private ulong _s0, _s1, _s2, _s3;
    private double? _spareNormal;

    /// <summary>Creates a generator for <paramref name="seed"/>.</summary>
    public SeededRandom(ulong seed)
    {
        var x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>A generator for one purpose of an experiment, e.g. <c>For(seed, "init")</c>.</summary>
    public static SeededRandom For(long seed, string purpose, long index = 0) => new(Derive(seed, purpose, index));

    /// <summary>Derives an independent 64-bit seed for a named purpose (and optional index) from an experiment seed.</summary>
    public static ulong Derive(long seed, string purpose, long index = 0)
    {
        // FNV-1a over the purpose, mixed with the seed and index through SplitMix64 finalisation.
        ulong h = 14695981039346656037UL;
        foreach (var ch in purpose)
        {
            h ^= ch;
            h *= 1099511628211UL;
        }
        var x = unchecked((ulong)seed) ^ h ^ (unchecked((ulong)index) * 0x9E3779B97F4A7C15UL);
        return SplitMix64(ref x);
    }

    /// <summary>A uniform value in [0, 1) that depends only on <paramref name="seed"/> and <paramref name="key"/>.</summary>
    public static double HashUniform(ulong seed, long key)
    {
        var x = seed ^ (unchecked((ulong)key) * 0xD1B54A32D192ED03UL);
        var v = SplitMix64(ref x);
        return (v >> 11) * (1.0 / (1UL << 53));
    }

    private static ulong SplitMix64(ref ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        var z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Next raw 64-bit value.</summary>
    public ulong NextUInt64()
    {
        var result = RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotateLeft(_s3, 45);
        return result;
    }

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));

    /// <summary>Uniform double in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, <paramref name="maxExclusive"/>), without modulo bias.</summary>
    public int NextInt(int maxExclusive)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxExclusive);
        var bound = (ulong)maxExclusive;
        var threshold = (0UL - bound) % bound;
        while (true)
        {
            var r = NextUInt64();
            if (r >= threshold) return (int)(r % bound);
        }
    }

    /// <summary>Standard normal deviate (Box–Muller).</summary>
    public double NextNormal()
    {
        if (_spareNormal is { } spare)
        {
            _spareNormal = null;
            return spare;
        }
        double u1;
        do { u1 = NextDouble(); } while (u1 <= double.Epsilon);
        var u2 = NextDouble();
        var r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareNormal = r * Math.Sin(2 * Math.PI * u2);
        return r * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>A uniformly random permutation of 0..n-1 (Fisher–Yates).</summary>
    public int[] Permutation(int n)
    {
        var p = new int[n];
        for (var i = 0; i < n; i++) p[i] = i;
        Shuffle(p);
        return p;
    }

    /// <summary>Shuffles <paramref name="items"/> in place.</summary>
    public void Shuffle<T>(IList<T> items)
    {
        for (var i = items.Count - 1; i > 0; i--)
        {
            var j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}

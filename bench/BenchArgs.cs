using System.Globalization;

namespace PruneFuse.Bench;

/// <summary>Minimal <c>--name value</c> / <c>--flag</c> parser with clear errors for the bench commands.</summary>
internal sealed class BenchArgs
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = [];

    public BenchArgs(IEnumerable<string> args)
    {
        string? pending = null;
        foreach (var a in args)
        {
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                if (pending is not null) _values[pending] = null;
                pending = a[2..];
                if (pending.Length == 0) throw new BenchUsageException("empty option name '--'");
            }
            else if (pending is not null)
            {
                _values[pending] = a;
                pending = null;
            }
            else
            {
                throw new BenchUsageException($"unexpected argument '{a}'");
            }
        }
        if (pending is not null) _values[pending] = null;
    }

    public bool Flag(string name)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out var v)) return false;
        if (v is not null) throw new BenchUsageException($"--{name} takes no value");
        return true;
    }

    public string String(string name, string fallback)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out var v)) return fallback;
        return v ?? throw new BenchUsageException($"--{name} needs a value");
    }

    public string? OptionalString(string name)
    {
        _used.Add(name);
        return _values.TryGetValue(name, out var v) ? v ?? throw new BenchUsageException($"--{name} needs a value") : null;
    }

    public int Int(string name, int fallback, int min, int max)
    {
        var s = OptionalString(name);
        if (s is null) return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
        {
            throw new BenchUsageException($"--{name} must be an integer in {min}..{max}, got '{s}'");
        }
        return v;
    }

    public double Double(string name, double fallback, double min, double maxExclusive)
    {
        var s = OptionalString(name);
        if (s is null) return fallback;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || v < min || v >= maxExclusive)
        {
            throw new BenchUsageException($"--{name} must be a number in [{min}, {maxExclusive}), got '{s}'");
        }
        return v;
    }

    public int[] IntList(string name, int[] fallback)
    {
        var s = OptionalString(name);
        if (s is null) return fallback;
        try
        {
            var list = s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
            if (list.Length == 0 || list.Any(x => x < 1 || x > 65536)) throw new FormatException();
            return list;
        }
        catch (FormatException)
        {
            throw new BenchUsageException($"--{name} must be a comma-separated list of integers in 1..65536, got '{s}'");
        }
    }

    /// <summary>Throws for any option the command did not read (typos should not be silently ignored).</summary>
    public void RejectUnknown()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0) throw new BenchUsageException($"unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}");
    }
}

internal sealed class BenchUsageException(string message) : Exception(message);

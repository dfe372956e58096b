using System.CommandLine;
using System.Globalization;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Runtime;

namespace PruneFuse.Bench;

/// <summary>Option factories with the bench's range checks, and the error handling every bench command shares.</summary>
internal static class BenchOptions
{
    /// <summary>An integer option in <paramref name="min"/>..<paramref name="max"/>.</summary>
    public static Option<int> Int(string name, int fallback, int min, int max, string description)
    {
        var o = new Option<int>(name) { Description = description, DefaultValueFactory = _ => fallback };
        o.Validators.Add(r =>
        {
            var v = r.GetValueOrDefault<int>();
            if (v < min || v > max) r.AddError($"{name} must be an integer in {min}..{max}, got {v}");
        });
        return o;
    }

    /// <summary>A number option in [<paramref name="min"/>, <paramref name="maxExclusive"/>).</summary>
    public static Option<double> Double(string name, double fallback, double min, double maxExclusive, string description)
    {
        var o = new Option<double>(name) { Description = description, DefaultValueFactory = _ => fallback };
        o.Validators.Add(r =>
        {
            var v = r.GetValueOrDefault<double>();
            if (!(v >= min && v < maxExclusive)) r.AddError($"{name} must be a number in [{min}, {maxExclusive}), got {v.ToString(CultureInfo.InvariantCulture)}");
        });
        return o;
    }

    /// <summary>A text option with a default.</summary>
    public static Option<string> Text(string name, string fallback, string description) =>
        new(name) { Description = description, DefaultValueFactory = _ => fallback };

    /// <summary>A text option without a default (null when not given).</summary>
    public static Option<string?> OptionalText(string name, string description) => new(name) { Description = description };

    /// <summary>A comma-separated list of integers in 1..65536 (<c>32,64,128</c>).</summary>
    public static Option<int[]> IntList(string name, int[] fallback, string description) => new(name)
    {
        Description = $"{description} (comma-separated)",
        DefaultValueFactory = _ => fallback,
        CustomParser = r =>
        {
            var text = r.Tokens.Count == 0 ? "" : r.Tokens[^1].Value;
            var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var values = new List<int>();
            foreach (var p in parts)
            {
                if (!int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < 1 || v > 65536)
                {
                    r.AddError($"{name} must be a comma-separated list of integers in 1..65536, got '{text}'");
                    return fallback;
                }
                values.Add(v);
            }
            if (values.Count == 0) r.AddError($"{name} must be a comma-separated list of integers in 1..65536, got '{text}'");
            return [.. values];
        },
    };

    /// <summary>A comma-separated list of text values.</summary>
    public static Option<string[]> TextList(string name, string[] fallback, string description) => new(name)
    {
        Description = $"{description} (comma-separated)",
        DefaultValueFactory = _ => fallback,
        CustomParser = r => r.Tokens.Count == 0 ? fallback : r.Tokens[^1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
    };

    /// <summary><c>--json</c>: the last line of stdout is one JSON object, progress goes to stderr.</summary>
    public static Option<bool> Json() => new("--json") { Description = "The last line of stdout is one JSON object; progress goes to stderr" };

    /// <summary><c>--data</c>: where Fashion-MNIST's IDX files are.</summary>
    public static Option<string?> Data() => OptionalText("--data", "Folder with Fashion-MNIST IDX files (default: Debian's dataset-fashion-mnist)");

    /// <summary>Runs a bench command: a missing prerequisite, bad input or unreadable data is one line and exit 1.</summary>
    public static async Task<int> Guard(Func<Task<int>> run)
    {
        try
        {
            return await run();
        }
        catch (PruneFuse.Tests.Shared.MissingPrerequisiteException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C or SIGTERM: the command stopped its host; what it finished is saved where it says.
            Console.Error.WriteLine("interrupted");
            return 130;
        }
        catch (BenchUsageException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is ArgumentException or DataFormatException or FileNotFoundException or DirectoryNotFoundException or TorchUnavailableException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    /// <summary>Runs a synchronous bench command under <see cref="Guard"/>.</summary>
    public static Task<int> Guard(Func<int> run) => Guard(() => Task.FromResult(run()));
}

/// <summary>A bench option that parsed but does not make sense with the others (exit 2).</summary>
internal sealed class BenchUsageException(string message) : Exception(message);

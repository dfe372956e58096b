using System.Text.RegularExpressions;

namespace PruneFuse.Grains.Interfaces;

/// <summary>The rule for experiment and dataset ids, shared by the console (checked before any call) and the
/// grains.</summary>
public static partial class Ids
{
    /// <summary>What a valid id looks like, for help texts and errors.</summary>
    public const string Rule = "1-64 characters of lowercase letters, digits, '-' and '_', starting with a letter or digit";

    /// <summary>Null when <paramref name="id"/> is valid, else the problem, naming <paramref name="what"/> (e.g.
    /// "experiment id").</summary>
    public static string? Problem(string? id, string what) =>
        string.IsNullOrEmpty(id) ? $"{what} is empty: it must be {Rule}"
        : id.Length > 64 || !Pattern().IsMatch(id) ? $"{what} '{id}' must be {Rule}"
        : null;

    /// <summary>Returns <paramref name="id"/> or throws <see cref="ArgumentException"/> naming the problem.</summary>
    public static string Validate(string? id, string what) => Problem(id, what) is { } p ? throw new ArgumentException(p) : id!;

    // \z, not $: $ also matches before a final newline, and "x\n" would pass as "x".
    [GeneratedRegex(@"^[a-z0-9][a-z0-9_-]{0,63}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}

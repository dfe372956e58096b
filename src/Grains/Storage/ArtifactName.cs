using System.Text.RegularExpressions;

namespace PruneFuse.Grains.Storage;

/// <summary>
/// Validation of artifact names: <c>/</c>-separated segments of letters, digits, <c>.</c>, <c>_</c> and <c>-</c>,
/// no empty, <c>.</c> or <c>..</c> segment, no leading or trailing slash. The same rules hold for files and blobs,
/// so a name cannot escape the store's root on either.
/// </summary>
public static partial class ArtifactName
{
    /// <summary>Longest accepted name.</summary>
    public const int MaxLength = 512;

    /// <summary>Throws <see cref="ArgumentException"/> naming what is wrong with <paramref name="name"/>.</summary>
    public static string Validate(string name, string what = "artifact name")
    {
        if (string.IsNullOrEmpty(name)) throw new ArgumentException($"{what} is empty");
        if (name.Length > MaxLength) throw new ArgumentException($"{what} is {name.Length} characters long; the limit is {MaxLength}");
        if (name[0] == '/' || name[^1] == '/') throw new ArgumentException($"{what} '{name}' must not start or end with '/'");
        foreach (var segment in name.Split('/'))
        {
            if (segment.Length == 0) throw new ArgumentException($"{what} '{name}' has an empty path segment");
            if (segment is "." or "..") throw new ArgumentException($"{what} '{name}' contains '{segment}', which is not allowed");
            if (!SegmentPattern().IsMatch(segment))
            {
                throw new ArgumentException($"{what} '{name}' contains characters outside letters, digits, '.', '_' and '-'");
            }
        }
        return name;
    }

    /// <summary>Validates a listing prefix: empty, or a valid name optionally ending in <c>/</c>.</summary>
    public static string ValidatePrefix(string prefix)
    {
        if (prefix.Length == 0) return prefix;
        Validate(prefix.EndsWith('/') ? prefix[..^1] : prefix, "artifact prefix");
        return prefix;
    }

    /// <summary>Validates a single id used as one path segment (dataset id, experiment id).</summary>
    public static string ValidateId(string id, string what) => Interfaces.Ids.Validate(id, what);

    [GeneratedRegex(@"^[A-Za-z0-9._-]{1,128}\z", RegexOptions.CultureInvariant)]
    private static partial Regex SegmentPattern();
}

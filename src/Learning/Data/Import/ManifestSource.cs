using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PruneFuse.Learning.Data.Import;

/// <summary>
/// A manifest as an import source (format <c>manifest</c>): a CSV (<c>path,label</c>, optional header) or JSONL
/// (<c>{"path": …, "label": …}</c>) file, one image per row; paths relative to the manifest's folder or absolute.
/// Labels are class names (or numbers); rows without a label make an unlabeled pool, and mixing both is refused.
/// </summary>
public sealed class ManifestSource : IImageSource
{
    private readonly string _folder;

    private ManifestSource(string file, IReadOnlyList<string> classNames, IReadOnlyList<SourceEntry> entries)
    {
        Location = file;
        _folder = Path.GetDirectoryName(file)!;
        ClassNames = classNames;
        Entries = entries;
    }

    /// <summary>Reads the manifest at <paramref name="location"/>; a malformed row is refused by line number.</summary>
    public static IImageSource Open(SourceLocation location)
    {
        var file = location.FullPath("manifest");
        if (!File.Exists(file)) throw new FileNotFoundException($"manifest not found: {file}", file);
        var jsonl = file.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".ndjson",
            StringComparison.OrdinalIgnoreCase);
        var rows = new List<(string Path, string? Label)>();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var line = 0;
        foreach (var text in File.ReadLines(file, Encoding.UTF8))
        {
            line++;
            var trimmed = text.Trim().TrimStart('\uFEFF');
            if (trimmed.Length == 0) continue;
            var (path, label) = jsonl ? JsonRow(trimmed, file, line) : CsvRow(trimmed, file, line);
            if (line == 1 && !jsonl && path.Equals("path", StringComparison.OrdinalIgnoreCase)) continue; // header
            if (path.Length == 0) throw new DataFormatException(file, $"line {line}: the path is empty");
            if (!keys.Add(path)) throw new DataFormatException(file, $"line {line}: '{path}' is listed twice");
            rows.Add((path, string.IsNullOrEmpty(label) ? null : label));
        }
        if (rows.Count == 0) throw new DataFormatException(file, "lists no images");
        var labeled = rows.Count(r => r.Label is not null);
        if (labeled != 0 && labeled != rows.Count)
        {
            var first = rows.FindIndex(r => r.Label is null);
            throw new DataFormatException(file,
                $"{labeled} rows have a label and {rows.Count - labeled} do not (first: '{rows[first].Path}'); " +
                "label every row, or none for an unlabeled pool");
        }
        if (labeled == 0) return new ManifestSource(file, [], [.. rows.Select(r => new SourceEntry(r.Path, -1))]);
        var names = rows.Select(r => r.Label!).Distinct().ToArray();
        // Numeric labels keep their numeric order (2 before 10); names sort ordinally.
        names = names.All(n => long.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            ? [.. names.OrderBy(n => long.Parse(n, CultureInfo.InvariantCulture))]
            : [.. names.Order(StringComparer.Ordinal)];
        if (names.Length < 2) throw new DataFormatException(file,
            $"a labeled manifest needs at least 2 classes, found {names.Length} ({names[0]})");
        var index = names.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => x.i, StringComparer.Ordinal);
        return new ManifestSource(file, names, [.. rows.Select(r => new SourceEntry(r.Path, index[r.Label!]))]);
    }

    private static (string Path, string? Label) JsonRow(string text, string file, int line)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("path", out var p)
                || p.ValueKind != JsonValueKind.String)
            {
                throw new DataFormatException(file, $"line {line}: expected an object with a string \"path\"");
            }
            string? label = root.TryGetProperty("label", out var l) ? l.ValueKind switch
            {
                JsonValueKind.String => l.GetString(),
                JsonValueKind.Number => l.GetRawText(),
                JsonValueKind.Null => null,
                _ => throw new DataFormatException(file, $"line {line}: \"label\" must be a string or a number"),
            } : null;
            return (p.GetString()!, label);
        }
        catch (JsonException e)
        {
            throw new DataFormatException(file, $"line {line}: not valid JSON ({e.Message})");
        }
    }

    // Two fields, either of them in double quotes ("" inside is a quote), as spreadsheets write them.
    private static (string Path, string? Label) CsvRow(string text, string file, int line)
    {
        var fields = new List<string>();
        var current = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    current.Append('"');
                    i++;
                }
                else if (c == '"') quoted = false;
                else current.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',')
            {
                fields.Add(current.ToString().Trim());
                current.Clear();
            }
            else current.Append(c);
        }
        if (quoted) throw new DataFormatException(file, $"line {line}: a quoted field is not closed");
        fields.Add(current.ToString().Trim());
        if (fields.Count > 2) throw new DataFormatException(file,
            $"line {line}: expected path,label but found {fields.Count} fields");
        return (fields[0], fields.Count == 2 ? fields[1] : null);
    }

    /// <inheritdoc />
    public string Format => "manifest";

    /// <inheritdoc />
    public string Location { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> ClassNames { get; }

    /// <inheritdoc />
    public IReadOnlyList<SourceEntry> Entries { get; }

    /// <inheritdoc />
    public void DecodeInto(int index, ImageImportOptions options, Span<byte> destination)
    {
        var path = Path.Combine(_folder, Entries[index].Key);
        if (!File.Exists(path)) throw new DataFormatException(path,
            $"listed in {Location} (row {index + 1}) but not found");
        ImageDecoder.DecodeFile(path, options, destination);
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}

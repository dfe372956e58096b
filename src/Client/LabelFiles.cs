using System.Globalization;
using System.Text;
using System.Text.Json;
using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Client;

/// <summary>Reads and writes the files users exchange with their labeling tools: CSV and JSON Lines.</summary>
public static class LabelFiles
{
    /// <summary>
    /// Writes a selection as CSV (<c>sample_id,shard,score,predicted,source</c>) or JSONL
    /// (<c>{"sampleId","shard","score","predicted","source"}</c>). <c>predicted</c> is the selector's class for the
    /// sample, empty (CSV) or null (JSONL) when there is none (random, k-center, the initial set); <c>source</c> is
    /// where the sample came from (<paramref name="sources"/>, by position), empty or null when the import kept none.
    /// </summary>
    public static void WriteSelection(string path, IReadOnlyList<SampleScore> selection, string format,
        IReadOnlyList<string> sources)
    {
        var sb = new StringBuilder();
        if (format == "csv") sb.Append("sample_id,shard,score,predicted,source\n");
        for (var i = 0; i < selection.Count; i++)
        {
            var s = selection[i];
            int? predicted = s.Predicted >= 0 ? s.Predicted : null;
            var source = sources[i];
            sb.Append(format == "csv"
                ? string.Create(CultureInfo.InvariantCulture,
                    $"{s.SampleId},{s.Shard},{s.Score:R},{predicted},{CsvField(source)}\n")
                : JsonSerializer.Serialize(new { sampleId = s.SampleId, shard = s.Shard, score = s.Score, predicted,
                    source = source.Length > 0 ? source : null }) + "\n");
        }
        File.WriteAllText(path, sb.ToString());
    }

    // A source key may hold commas or quotes (file names do): quoted as spreadsheets expect.
    private static string CsvField(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\""
            : value;

    /// <summary>True when <paramref name="path"/> holds a JSON array (how Label Studio exports), judged by its first non-blank character.</summary>
    public static bool LooksLikeLabelStudio(string path)
    {
        if (!File.Exists(path)) return false; // the reader names the missing file
        using var reader = new StreamReader(path);
        int c;
        while ((c = reader.Read()) >= 0)
        {
            if (c == '\uFEFF' || char.IsWhiteSpace((char)c)) continue;
            return c == '[';
        }
        return false;
    }

    /// <summary>
    /// Reads labels from CSV (<c>sample_id,label</c>, header optional, extra columns ignored) or JSONL
    /// (<c>{"sampleId": 1, "label": 3}</c> per line). Errors name the file and line. The file is streamed and
    /// refused as soon as it holds more than <paramref name="maxLabels"/> labels (the round's selection size), so
    /// an oversized or wrong file never reaches the silo.
    /// </summary>
    public static SampleLabel[] ReadLabels(string path, string format = "auto", int maxLabels = int.MaxValue)
    {
        if (!File.Exists(path)) throw new ClientException($"label file not found: {path}");
        var jsonl = format == "jsonl" || (format == "auto" && (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)));
        var result = new List<SampleLabel>();
        var lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            if (result.Count == maxLabels && maxLabels < int.MaxValue)
            {
                throw new ClientException($"{path}:{lineNo}: more than {maxLabels} labels, but the round selected {maxLabels} samples; is this the right file?");
            }
            try
            {
                if (jsonl)
                {
                    using var doc = JsonDocument.Parse(line);
                    result.Add(new SampleLabel(doc.RootElement.GetProperty("sampleId").GetInt64(), doc.RootElement.GetProperty("label").GetInt32()));
                }
                else
                {
                    var cells = line.Split(',');
                    if (lineNo == 1 && !long.TryParse(cells[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out _)) continue; // header
                    if (cells.Length < 2) throw new FormatException("expected sample_id,label");
                    result.Add(new SampleLabel(long.Parse(cells[0], NumberStyles.Integer, CultureInfo.InvariantCulture), int.Parse(cells[1].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture)));
                }
            }
            catch (Exception e) when (e is FormatException or OverflowException or JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new ClientException($"{path}:{lineNo}: {e.Message}");
            }
        }
        if (result.Count == 0) throw new ClientException($"{path} contains no labels");
        return [.. result];
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PruneFuse.Grains.Interfaces;
using SkiaSharp;

namespace PruneFuse.Client;

/// <summary>
/// Label Studio round trip for image classification. Export writes importable tasks (Label Studio's task format:
/// <c>data</c> with the image reference, the sample id and the uncertainty score as its own field, plus a
/// <c>predictions</c> entry with the selector's predicted class as a <c>choices</c> result) and a matching
/// labeling config. Import reads Label Studio's JSON export (tasks with <c>annotations</c>) or its JSON-MIN
/// export back into labels.
/// </summary>
public static class LabelStudio
{
    /// <summary>Name of the <c>Image</c> tag in the labeling config (results' <c>to_name</c>).</summary>
    public const string ImageTag = "image";

    /// <summary>Name of the <c>Choices</c> tag in the labeling config (results' <c>from_name</c>).</summary>
    public const string ChoicesTag = "label";

    /// <summary>Writes the tasks file (with each sample's source key from <paramref name="sources"/>, by position);
    /// returns the number of tasks.</summary>
    public static int WriteTasks(string path, IReadOnlyList<SampleScore> selection, string experimentId, int round, string metric,
        IReadOnlyList<string> classNames, Func<long, string> imageReference, IReadOnlyList<string> sources)
    {
        var tasks = new JsonArray();
        for (var i = 0; i < selection.Count; i++)
        {
            var s = selection[i];
            var data = new JsonObject
            {
                [ImageTag] = imageReference(s.SampleId),
                ["sample_id"] = s.SampleId,
                ["uncertainty"] = s.Score,
                ["metric"] = metric,
                ["experiment"] = experimentId,
                ["round"] = round,
                ["shard"] = s.Shard,
            };
            // Where the sample is at its source, so labellers can open the original.
            if (sources[i].Length > 0) data["source"] = sources[i];
            var task = new JsonObject { ["data"] = data };
            if (s.Predicted >= 0 && s.Predicted < classNames.Count)
            {
                task["predictions"] = new JsonArray(new JsonObject
                {
                    ["model_version"] = $"{experimentId}/round-{round}",
                    ["result"] = new JsonArray(new JsonObject
                    {
                        ["from_name"] = ChoicesTag, ["to_name"] = ImageTag, ["type"] = "choices",
                        ["value"] = new JsonObject { ["choices"] = new JsonArray(classNames[s.Predicted]) },
                    }),
                });
            }
            tasks.Add(task);
        }
        File.WriteAllText(path, tasks.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return tasks.Count;
    }

    /// <summary>The labeling config (XML) for single-choice image classification over <paramref name="classNames"/>.</summary>
    public static string LabelConfig(IReadOnlyList<string> classNames)
    {
        var sb = new StringBuilder();
        sb.Append($"<View>\n  <Image name=\"{ImageTag}\" value=\"${ImageTag}\"/>\n  <Choices name=\"{ChoicesTag}\" toName=\"{ImageTag}\" choice=\"single\" showInLine=\"true\">\n");
        foreach (var c in classNames) sb.Append($"    <Choice value=\"{System.Security.SecurityElement.Escape(c)}\"/>\n");
        sb.Append("  </Choices>\n</View>\n");
        return sb.ToString();
    }

    /// <summary>
    /// Reads a Label Studio JSON export (or JSON-MIN export). Each task needs <c>data.sample_id</c>; its label is
    /// the single choice of its last annotation that was not cancelled, matched to <paramref name="classNames"/>
    /// (or a class index). Tasks nobody annotated are left out, so the coordinator names them as missing.
    /// Errors name the file and the task. The file is streamed task by task and refused as soon as it holds more
    /// than <paramref name="maxLabels"/> annotated tasks (the round's selection size), as CSV and JSONL files are.
    /// </summary>
    public static SampleLabel[] ReadExport(string path, IReadOnlyList<string> classNames, int maxLabels = int.MaxValue)
    {
        if (!File.Exists(path)) throw new ClientException($"Label Studio export not found: {path}");
        if (!LabelFiles.LooksLikeLabelStudio(path)) throw new ClientException($"{path}: a Label Studio JSON export "
            + $"is an array of tasks");
        var labels = new List<SampleLabel>();
        using var stream = File.OpenRead(path);
        var i = 0;
        foreach (var node in Tasks(stream, path))
        {
            i++;
            var where = $"{path}: task {i}";
            try
            {
                if (node is not JsonObject task) throw new FormatException("is not an object");
                if (task["id"] is JsonValue tid) where += $" (id {tid})";
                var data = task["data"] as JsonObject ?? task; // JSON-MIN puts the data fields at the top level
                var sampleId = data["sample_id"] is JsonNode sid ? ReadLong(sid) : throw new FormatException("has no data.sample_id (was it exported by prunefuse selections export?)");
                string? choice;
                if (task.ContainsKey("annotations") || task.ContainsKey("data"))
                {
                    choice = LastChoice(task["annotations"] as JsonArray);
                }
                else
                {
                    choice = task[ChoicesTag] is JsonNode min ? min.GetValueKind() == JsonValueKind.Array ? Single(min.AsArray()) : min.ToString() : null;
                }
                if (choice is null) continue;
                if (labels.Count == maxLabels)
                {
                    throw new ClientException($"{where}: more than {maxLabels} annotated tasks, but the round "
                        + $"selected {maxLabels} samples; is this the right file?");
                }
                labels.Add(new SampleLabel(sampleId, ClassIndex(choice, classNames)));
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException or OverflowException or JsonException)
            {
                throw new ClientException($"{where} {e.Message}");
            }
        }
        if (labels.Count == 0) throw new ClientException($"{path} contains no annotated tasks");
        return [.. labels];
    }

    // One task at a time: a million-task export never sits in memory whole.
    private static IEnumerable<JsonNode?> Tasks(Stream stream, string path)
    {
        using var tasks = JsonSerializer.DeserializeAsyncEnumerable<JsonNode?>(stream).ToBlockingEnumerable()
            .GetEnumerator();
        while (true)
        {
            try
            {
                if (!tasks.MoveNext()) yield break;
            }
            catch (JsonException e)
            {
                throw new ClientException($"{path}: not a Label Studio JSON export: {e.Message}");
            }
            yield return tasks.Current;
        }
    }

    private static string? LastChoice(JsonArray? annotations)
    {
        if (annotations is null) return null;
        string? last = null;
        foreach (var a in annotations.OfType<JsonObject>())
        {
            if (a["was_cancelled"]?.GetValue<bool>() == true) continue;
            var result = a["result"] as JsonArray ?? [];
            var choices = result.OfType<JsonObject>().Where(r => (string?)r["type"] == "choices").ToList();
            if (choices.Count == 0) continue;
            if (choices.Count > 1) throw new FormatException("has an annotation with more than one choices result");
            last = Single(choices[0]["value"]?["choices"] as JsonArray ?? throw new FormatException("has a choices result without value.choices"));
        }
        return last;
    }

    private static string Single(JsonArray choices) => choices.Count == 1
        ? choices[0]!.ToString()
        : throw new FormatException($"has {choices.Count} choices in one annotation; PruneFuse needs exactly one class per image");

    private static long ReadLong(JsonNode n) => n.GetValueKind() == JsonValueKind.String
        ? long.Parse(n.GetValue<string>(), NumberStyles.Integer, CultureInfo.InvariantCulture)
        : n.GetValue<long>();

    private static int ClassIndex(string choice, IReadOnlyList<string> classNames)
    {
        for (var c = 0; c < classNames.Count; c++)
        {
            if (string.Equals(classNames[c], choice, StringComparison.Ordinal)) return c;
        }
        if (int.TryParse(choice, NumberStyles.Integer, CultureInfo.InvariantCulture, out var index)) return index;
        throw new FormatException($"has choice '{choice}', which is not a class of this dataset ({string.Join(", ", classNames)})");
    }

    /// <summary>Writes each sample of <paramref name="images"/> as <c>&lt;sample id&gt;.png</c> into <paramref name="folder"/>.</summary>
    public static void WritePngs(SampleImages images, string folder)
    {
        Directory.CreateDirectory(folder);
        int c = images.Shape[0], h = images.Shape[1], w = images.Shape[2];
        if (c is not (1 or 3)) throw new ClientException($"cannot write {c}-channel images as PNG (1 or 3 channels)");
        var size = c * h * w;
        for (var i = 0; i < images.SampleIds.Length; i++)
        {
            using var bitmap = new SKBitmap(new SKImageInfo(w, h, c == 1 ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque));
            var src = images.Pixels.AsSpan(i * size, size);
            var dst = new byte[c == 1 ? h * w : h * w * 4];
            for (var p = 0; p < h * w; p++)
            {
                if (c == 1) dst[p] = src[p];
                else
                {
                    // Planar CHW → interleaved RGBA.
                    dst[4 * p] = src[p];
                    dst[4 * p + 1] = src[h * w + p];
                    dst[4 * p + 2] = src[2 * h * w + p];
                    dst[4 * p + 3] = 255;
                }
            }
            System.Runtime.InteropServices.Marshal.Copy(dst, 0, bitmap.GetPixels(), dst.Length);
            using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(Path.Combine(folder, $"{images.SampleIds[i].ToString(CultureInfo.InvariantCulture)}.png"), data.ToArray());
        }
    }
}

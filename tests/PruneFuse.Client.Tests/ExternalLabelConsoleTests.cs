using System.Text.Json;
using System.Text.Json.Nodes;

namespace PruneFuse.Client.Tests;

/// <summary>The external-label workflow through the console: export a selection, label it elsewhere, import, continue.</summary>
public sealed class ExternalLabelConsoleTests
{
    /// <summary>True labels read from the stored shard files (payload after the 48-byte header: ids, then int32 labels).</summary>
    private static Dictionary<long, int> TrueLabels(string root, string dataset)
    {
        var labels = new Dictionary<long, int>();
        foreach (var f in Directory.GetFiles(Path.Combine(root, "artifacts", "datasets", dataset, "shards")))
        {
            var b = File.ReadAllBytes(f);
            var n = BitConverter.ToInt32(b, 12);
            for (var i = 0; i < n; i++) labels[BitConverter.ToInt64(b, 48 + 8 * i)] = BitConverter.ToInt32(b, 48 + 8 * n + 4 * i);
        }
        return labels;
    }

    /// <summary>
    /// A Label Studio JSON export as its documentation describes it: the task's data, a prediction, and
    /// annotations whose results carry <c>value.choices</c>; the annotator first skipped one task (cancelled).
    /// </summary>
    private static string LabelStudioExport(string tasksFile, Dictionary<long, int> truth, string[] classNames)
    {
        var tasks = JsonNode.Parse(File.ReadAllText(tasksFile))!.AsArray();
        var export = new JsonArray();
        var taskId = 100;
        foreach (var t in tasks)
        {
            var data = t!["data"]!.DeepClone();
            var sampleId = data["sample_id"]!.GetValue<long>();
            var annotations = new JsonArray();
            if (taskId == 100)
            {
                annotations.Add(new JsonObject { ["id"] = 1, ["completed_by"] = 1, ["was_cancelled"] = true, ["result"] = new JsonArray() });
            }
            annotations.Add(new JsonObject
            {
                ["id"] = taskId * 10, ["completed_by"] = 1, ["was_cancelled"] = false, ["ground_truth"] = false, ["lead_time"] = 2.5,
                ["created_at"] = "2026-11-25T10:00:00.000000Z", ["updated_at"] = "2026-11-25T10:00:00.000000Z", ["task"] = taskId,
                ["result"] = new JsonArray(new JsonObject
                {
                    ["id"] = $"r{taskId}", ["type"] = "choices", ["from_name"] = "label", ["to_name"] = "image", ["origin"] = "manual",
                    ["value"] = new JsonObject { ["choices"] = new JsonArray(classNames[truth[sampleId]]) },
                }),
            });
            export.Add(new JsonObject
            {
                ["id"] = taskId++, ["data"] = data, ["annotations"] = annotations, ["predictions"] = t["predictions"]?.DeepClone() ?? new JsonArray(),
                ["meta"] = new JsonObject(), ["created_at"] = "2026-11-25T09:00:00.000000Z", ["inner_id"] = taskId, ["total_annotations"] = 1,
            });
        }
        return export.ToJsonString();
    }

    private static readonly string[] FashionClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    [Fact]
    public async Task Csv_jsonl_and_label_studio_round_trips_drive_the_experiment_to_completion()
    {
        using var dir = new TempDir("prunefuse-labels-");
        var root = dir.Path;
        await using var silo = new SiloProcess(root);
        await silo.StartAsync();
        var port = silo.GatewayPort;
        Assert.Equal(0, (await Processes.ClientAsync(port, "dataset", "import", "--id", "lab", "--shards", "2", "--limit", "1000")).ExitCode);
        var start = await Processes.ClientAsync(port, "experiment", "start", "--id", "ext", "--dataset", "lab", "--arch", "resnet8", "--initial", "100",
            "--round-size", "50", "--rounds", "2", "--selector-epochs", "1", "--final-epochs", "1", "--batch-size", "32", "--label-source", "external");
        Assert.True(start.ExitCode == 0, start.Stderr);
        var truth = TrueLabels(root, "lab");
        for (var round = 0; round <= 2; round++)
        {
            var waiting = await Processes.ClientAsync(port, "experiment", "status", "--id", "ext", "--watch", "--json");
            var waitingJson = JsonDocument.Parse(waiting.LastLine).RootElement;
            Assert.Equal("running", waitingJson.GetProperty("state").GetString());
            Assert.Equal(round, waitingJson.GetProperty("awaitingLabelsRound").GetInt32());
            Assert.Contains($"labels import --id ext --round {round}", waitingJson.GetProperty("next").GetString());
            if (round == 1)
            {
                // The plain status names the state, the stage and the command that moves the experiment on.
                var plain = await Processes.ClientAsync(port, "experiment", "status", "ext"); // the id may come first
                Assert.True(plain.ExitCode == 0, plain.Stderr);
                Assert.Contains("state: running — waiting for labels of round 1 (1 of 2 rounds selected", plain.Stdout);
                Assert.Contains("next: prunefuse selections export --id ext --round 1", plain.Stdout);
            }
            if (round == 2)
            {
                await LabelStudioRoundAsync(port, root, truth);
                continue;
            }
            var format = round == 0 ? "csv" : "jsonl";
            // Into a folder that does not exist yet: the export makes it.
            var exported = Path.Combine(root, "exports", $"round-{round}", $"selection.{format}");
            var export = await Processes.ClientAsync(port, "selections", "export", "--id", "ext", "--round", round.ToString(), "--format", format, "--out", exported);
            Assert.True(export.ExitCode == 0, export.Stderr);
            var lines = File.ReadAllLines(exported);
            List<long> ids;
            string labelFile;
            if (format == "csv")
            {
                Assert.Equal("sample_id,shard,score,predicted,source", lines[0]);
                // Round 0 is the random initial set: no selector, so no predicted class.
                Assert.All(lines.Skip(1), l => Assert.Equal("", l.Split(',')[3]));
                ids = lines.Skip(1).Select(l => long.Parse(l.Split(',')[0])).ToList();
                labelFile = Path.Combine(root, "labels-0.csv");
                File.WriteAllLines(labelFile, ["sample_id,label", .. ids.Select(id => $"{id},{truth[id]}")]);
            }
            else
            {
                ids = lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("sampleId").GetInt64()).ToList();
                // Round 1 was scored by the pruned selector: every sample carries its predicted class.
                Assert.All(lines, l => Assert.InRange(JsonDocument.Parse(l).RootElement.GetProperty("predicted").GetInt32(), 0, 9));
                labelFile = Path.Combine(root, "labels-1.jsonl");
                File.WriteAllLines(labelFile, ids.Select(id => JsonSerializer.Serialize(new { sampleId = id, label = truth[id] })));
            }
            Assert.Equal(round == 0 ? 100 : 50, ids.Count);

            var broken = Path.Combine(root, "broken.csv");
            File.WriteAllLines(broken, ["sample_id,label", $"{ids[0]},cat"]);
            var bad = await Processes.ClientAsync(port, "labels", "import", "--id", "ext", "--round", round.ToString(), "--file", broken);
            Assert.Equal(1, bad.ExitCode);
            Assert.Contains($"{broken}:2:", bad.Stderr);

            // A file far larger than the round is refused while it is read, before anything reaches the silo.
            var oversized = Path.Combine(root, "oversized.csv");
            File.WriteAllLines(oversized, ["sample_id,label", .. Enumerable.Range(0, 200_000).Select(i => $"{i},1")]);
            var big = await Processes.ClientAsync(port, "labels", "import", "--id", "ext", "--round", round.ToString(), "--file", oversized);
            Assert.Equal(1, big.ExitCode);
            Assert.Contains($"{oversized}:{ids.Count + 2}: more than {ids.Count} labels", big.Stderr);

            var import = await Processes.ClientAsync(port, "labels", "import", "--id", "ext", "--round", round.ToString(), "--file", labelFile);
            Assert.True(import.ExitCode == 0, import.Stderr);
        }
        var done = await Processes.ClientAsync(port, "experiment", "status", "--id", "ext", "--watch", "--json");
        Assert.Equal("completed", JsonDocument.Parse(done.LastLine).RootElement.GetProperty("state").GetString());

        // The silo's log follows the experiment step by step, without dumping the spec.
        Assert.Contains("experiment ext started: pruned selector on lab, resnet8, budget 200 over 2 rounds", silo.Log);
        Assert.Contains("experiment ext waits for the labels of round 0", silo.Log);
        Assert.Contains("experiment ext: Commit (round 2) done in", silo.Log);
        Assert.Contains("experiment ext waits for the labels of round 2", silo.Log);
        Assert.Contains("experiment ext: Fuse (round 3) done in", silo.Log);
        Assert.Contains("experiment ext completed: final accuracy", silo.Log);
        Assert.DoesNotContain("ExperimentSpec {", silo.Log);
    }

    private static async Task LabelStudioRoundAsync(int port, string root, Dictionary<long, int> truth)
    {
        var tasksFile = Path.Combine(root, "ls", "tasks.json");
        Directory.CreateDirectory(Path.GetDirectoryName(tasksFile)!);
        var images = Path.Combine(root, "ls", "images");
        // --images relative to the console's folder: Label Studio resolves local files from its own root, so the
        // URLs must carry the absolute path.
        var export = await Processes.ClientInAsync(root, port, "selections", "export", "--id", "ext", "--round", "2", "--format", "label-studio", "--out", tasksFile, "--images", Path.Combine("ls", "images"));
        Assert.True(export.ExitCode == 0, export.Stderr);

        // Importable tasks: image reference, the uncertainty as its own field, the selector's prediction as a choices result.
        var tasks = JsonNode.Parse(File.ReadAllText(tasksFile))!.AsArray();
        Assert.Equal(50, tasks.Count);
        foreach (var t in tasks)
        {
            var data = t!["data"]!;
            var id = data["sample_id"]!.GetValue<long>();
            Assert.Equal($"/data/local-files/?d={images.Trim('/')}/{id}.png", data["image"]!.GetValue<string>());
            Assert.InRange(data["uncertainty"]!.GetValue<double>(), 0, 1);
            var result = t["predictions"]![0]!["result"]![0]!;
            Assert.Equal("choices", result["type"]!.GetValue<string>());
            Assert.Equal("label", result["from_name"]!.GetValue<string>());
            Assert.Equal("image", result["to_name"]!.GetValue<string>());
            Assert.Contains(result["value"]!["choices"]![0]!.GetValue<string>(), FashionClasses);
            // PNG signature, then the IHDR chunk's big-endian width and height.
            var png = File.ReadAllBytes(Path.Combine(images, $"{id}.png"));
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
            Assert.Equal((28, 28), (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20))));
        }
        var config = File.ReadAllText(Path.ChangeExtension(tasksFile, ".label-config.xml"));
        Assert.Contains("<Image name=\"image\" value=\"$image\"/>", config);
        Assert.Equal(10, config.Split("<Choice value=").Length - 1);

        // A task with two choices is refused, naming the file and the task; nothing is imported.
        var bad = Path.Combine(root, "ls", "bad.json");
        File.WriteAllText(bad, """[{"id": 7, "data": {"sample_id": 1}, "annotations": [{"result": [{"type": "choices", "value": {"choices": ["Bag", "Coat"]}}]}]}]""");
        var refused = await Processes.ClientAsync(port, "labels", "import", "--id", "ext", "--round", "2", "--format", "label-studio", "--file", bad);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains($"{bad}: task 1 (id 7)", refused.Stderr);

        // An export far larger than the round is streamed and refused at the first task past the selection.
        var huge = Path.Combine(root, "ls", "huge.json");
        using (var w = new StreamWriter(huge))
        {
            w.Write('[');
            for (var i = 0; i < 100_000; i++) w.Write($"{(i > 0 ? "," : "")}{{\"data\": {{\"sample_id\": {i}}}, "
                + $"\"annotations\": [{{\"result\": [{{\"type\": \"choices\", \"value\": {{\"choices\": "
                + $"[\"Bag\"]}}}}]}}]}}");
            w.Write(']');
        }
        var tooMany = await Processes.ClientAsync(port, "labels", "import", "--id", "ext", "--round", "2", "--file",
            huge);
        Assert.Equal(1, tooMany.ExitCode);
        Assert.Contains($"{huge}: task 51: more than 50 annotated tasks", tooMany.Stderr);

        var labels = Path.Combine(root, "ls", "export.json");
        File.WriteAllText(labels, LabelStudioExport(tasksFile, truth, FashionClasses));
        // The default format recognises a Label Studio export (a JSON array) by its content.
        var import = await Processes.ClientAsync(port, "labels", "import", "--id", "ext", "--round", "2", "--file", labels);
        Assert.True(import.ExitCode == 0, import.Stderr);
    }
}

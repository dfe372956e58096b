using System.CommandLine;
using System.Text.Json;
using PruneFuse.Grains.Interfaces;
using Spectre.Console;
using static PruneFuse.Client.Commands.Common;
using static PruneFuse.Client.Commands.Progress;

namespace PruneFuse.Client.Commands;

/// <summary><c>prunefuse dataset import|show|list|delete</c>.</summary>
public static class DatasetCommands
{
    /// <summary><c>dataset import|show</c>.</summary>
    public static Command Dataset()
    {
        var cmd = new Command("dataset", "Import and inspect datasets");
        var id = Id("Dataset id", "fashion-mnist");
        var data = new Option<string?>("--data") { Description = "Folder with Fashion-MNIST IDX files on the silo (default: Debian's dataset-fashion-mnist)" };
        var shards = new Option<int>("--shards") { Description = "Number of pool shards", DefaultValueFactory = _ => 4 };
        var limit = new Option<int>("--limit") { Description = "Use only the first N training images as the pool (0 = all)", DefaultValueFactory = _ => 0 };
        limit.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 0) r.AddError($"--limit must be 0 (all images) or a positive number of images, got {r.GetValueOrDefault<int>()}");
        });
        var from = new Option<string>("--from")
        {
            Description = "fashion-mnist (IDX files), images (class sub-folders, or images only), manifest "
                + "(CSV/JSONL of path,label), " +
                "cifar (binary batches), npy (uint8 array + --labels) or webdataset (tar shards of key.jpg/png + "
                    + "key.cls)",
            DefaultValueFactory = _ => "fashion-mnist",
        };
        from.AcceptOnlyFromAmong(["fashion-mnist", .. ImportFormats.Names]);
        var folder = new Argument<string?>("source") { Description = "The pool on the silo's machine: a folder, "
            + "manifest, .npy or .tar, by --from", Arity = ArgumentArity.ZeroOrOne };
        var test = new Option<string?>("--test") { Description = "A labeled test source of the same format (default: "
            + "the format's own test split, or --test-fraction of a labeled pool)" };
        var testFraction = new Option<double>("--test-fraction") { Description = "Without --test: fraction of a "
            + "labeled pool held out for testing", DefaultValueFactory = _ => 0.2 };
        var channels = new Option<int>("--channels") { Description = "1 (grayscale) or 3 (RGB)",
            DefaultValueFactory = _ => 3 };
        var size = new Option<string>("--size") { Description = "Stored size HxW; every image is resized to it",
            DefaultValueFactory = _ => "32x32" };
        var resize = new Option<string>("--resize") { Description = "stretch (to HxW) or shorter-side-crop (shorter "
            + "side to size, centre crop)", DefaultValueFactory = _ => "stretch" };
        resize.AcceptOnlyFromAmong([.. ImportFormats.ResizePolicies]);
        var shardSize = new Option<string>("--shard-size") { Description = "Largest pool shard, e.g. 256MB, 64KB, "
            + "1GB; the shard count follows", DefaultValueFactory = _ => "256MB" };
        var skipBad = new Option<bool>("--skip-bad") { Description = "Leave unreadable images out (each reported) "
            + "instead of refusing the import" };
        var seed = new Option<long>("--seed") { Description = "Seed of the held-out test split",
            DefaultValueFactory = _ => 0 };
        var labels = new Option<string?>("--labels") { Description = "With --from npy: the pool's labels (.npy of N "
            + "integers); without it the pool is unlabeled" };
        var testLabels = new Option<string?>("--test-labels") { Description = "With --from npy: the test source's "
            + "labels (.npy)" };
        var classNames = new Option<string?>("--class-names") { Description = "A text file of class names, one per "
            + "line by label (npy, webdataset, cifar)" };
        var cifarLabels = new Option<string?>("--cifar-labels") { Description = "With CIFAR-100: fine (100 classes, "
            + "default) or coarse (20)" };
        cifarLabels.AcceptOnlyFromAmong("fine", "coarse");
        var dryRun = new Option<bool>("--dry-run") { Description = "List the source and print the count, classes, "
            + "stored size and shard count; write nothing" };
        var import = new Command("import",
            "Import a dataset as pool shards plus a test shard (streamed: memory stays at a few shards)")
        {
            id, from, folder, data, shards, limit, test, testFraction, channels, size, resize, shardSize, skipBad, seed,
                labels, testLabels, classNames, cifarLabels, dryRun,
        };
        import.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var grain = c.GetGrain<IDatasetGrain>(p.GetValue(id)!);
            var format = p.GetValue(from)!;
            if (format != "fashion-mnist")
            {
                if (p.GetResult(shards) is { Implicit: false }) throw new ClientException($"--shards applies to "
                    + $"--from fashion-mnist; size the shards of --from {format} with --shard-size");
                var source = p.GetValue(folder) ?? p.GetValue(data)
                    ?? throw new ClientException($"--from {format} needs the source: prunefuse dataset import --from "
                    + $"{format} PATH");
                var (height, width) = ParseSize(p.GetValue(size)!);
                static string Full(string? path) => path is null ? "" : Path.GetFullPath(path);
                var request = new DatasetImportRequest
                {
                    Format = format, Source = Full(source), TestSource = Full(p.GetValue(test)),
                        TestFraction = p.GetValue(testFraction),
                    Channels = p.GetValue(channels), Height = height, Width = width, Resize = p.GetValue(resize)!,
                        ShardSize = ParseBytes(p.GetValue(shardSize)!),
                    SkipBad = p.GetValue(skipBad), Seed = p.GetValue(seed), Labels = Full(p.GetValue(labels)),
                        TestLabels = Full(p.GetValue(testLabels)),
                    ClassNamesFile = Full(p.GetValue(classNames)), CifarLabels = p.GetValue(cifarLabels) ?? "",
                        DryRun = p.GetValue(dryRun),
                };
                var result = request.DryRun ? await grain.Import(request) : await WithImportProgress(grain,
                    grain.Import(request), json, ct);
                foreach (var skipped in result.Skipped) Console.Error.WriteLine($"skipped unreadable image {skipped}");
                foreach (var note in result.Notes) Console.Error.WriteLine(note);
                Print(json, result, Describe(result, format));
                return 0;
            }
            if (p.GetValue(dryRun)) throw new ClientException("--dry-run applies to image formats; --from "
                + "fashion-mnist reads two fixed IDX files");
            // The import runs in the silo: it goes on (and a repeated command waits for it) if this console leaves.
            var info = await WithImportProgress(grain, grain.ImportFashionMnist(p.GetValue(data) ?? p.GetValue(folder) ?? "", p.GetValue(shards), p.GetValue(limit)), json, ct);
            Print(json, info, $"{(info.AlreadyImported ? "already imported" : "imported")} '{info.DatasetId}': {info.PoolSize} pool samples in {info.Shards} shards, {info.TestSize} test samples" +
                (info.AlreadyImported ? " (nothing written)" : ""));
            return 0;
        }, ct));
        var showId = Id("Dataset id", "fashion-mnist");
        var show = new Command("show", "Describe an imported dataset") { showId };
        show.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var info = await c.GetGrain<IDatasetGrain>(p.GetValue(showId)!).Describe();
            Print(json, info, $"'{info.DatasetId}': {info.PoolSize} pool samples in {info.Shards} shards, {info.TestSize} test samples, shape {string.Join("×", info.Shape)}, {info.Classes} classes");
            return 0;
        }, ct));
        var list = new Command("list", "List imported datasets");
        list.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var all = await c.GetGrain<ICatalogGrain>(0).ListDatasets();
            if (json)
            {
                Console.WriteLine(JsonSerializer.Serialize(new { datasets = all }, Reports.Camel));
                return 0;
            }
            var t = new Table().AddColumns("dataset", "pool", "shards", "test", "shape", "classes");
            foreach (var d in all) t.AddRow(Markup.Escape(d.DatasetId), d.PoolSize.ToString(), d.Shards.ToString(), d.TestSize.ToString(), string.Join("×", d.Shape), d.Classes.ToString());
            AnsiConsole.Write(t);
            return 0;
        }, ct));
        var deleteId = Id("Dataset id");
        var delete = new Command("delete", "Delete an imported dataset (refused while a running experiment uses it; experiments are kept)") { deleteId };
        delete.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var d = await c.GetGrain<IDatasetGrain>(p.GetValue(deleteId)!).Delete();
            Print(json, d, $"deleted dataset '{d.Id}': {d.Artifacts} artifacts, {d.Bytes / 1e6:F1} MB");
            return 0;
        }, ct));
        cmd.Subcommands.Add(import);
        cmd.Subcommands.Add(show);
        cmd.Subcommands.Add(list);
        cmd.Subcommands.Add(delete);
        return cmd;
    }

    private static string Describe(DatasetImportResult result, string format)
    {
        var d = result.Dataset;
        var verb = result.DryRun ? "would import" : result.AlreadyImported ? "already imported" : "imported";
        var names = string.Join(", ", d.ClassNames.Take(10)) + (d.ClassNames.Length > 10 ? ", …" : "");
        return $"{verb} '{d.DatasetId}' from {format}: {d.PoolSize:N0} pool samples{(d.PoolLabeled ? "" : " "
            + "(unlabeled)")} in {d.Shards} shards, " +
            $"{d.TestSize:N0} test samples, {d.Classes} classes ({names}), shape {string.Join("×", d.Shape)}" +
            (result.AlreadyImported ? " (nothing written)"
                : $", {result.StoredBytes / 1e6:N1} MB stored as {result.Conversion}") +
            (result.Seconds > 0 ? $", {(d.PoolSize + d.TestSize) / result.Seconds:N0} images/s" : "") +
            (result.Silos.Length > 1
                ? $" over {result.Silos.Length} silos ({string.Join(", ", result.Silos.Select(s => $"{s.Shards} "
                + $"shards at {s.ImagesPerSecond:N0}/s"))})" : "") +
            (result.ResumedShards > 0 ? $", {result.ResumedShards} shards resumed from an interrupted run" : "") +
            (result.Skipped.Length > 0 ? $", {result.Skipped.Length} unreadable images skipped" : "") +
            (result.Ignored > 0 ? $", {result.Ignored} other files ignored" : "");
    }

    /// <summary>Parses a byte size: a number with an optional KB, MB or GB suffix (powers of 1024).</summary>
    internal static long ParseBytes(string text)
    {
        var t = text.Trim().ToUpperInvariant();
        var (digits, unit) = t.EndsWith("GB", StringComparison.Ordinal) ? (t[..^2], 1L << 30)
            : t.EndsWith("MB", StringComparison.Ordinal) ? (t[..^2], 1L << 20)
            : t.EndsWith("KB", StringComparison.Ordinal) ? (t[..^2], 1L << 10)
            : t.EndsWith('B') ? (t[..^1], 1L) : (t, 1L);
        return long.TryParse(digits.Trim(), System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0 && n <= long.MaxValue / unit
            ? n * unit
            : throw new ClientException($"--shard-size must be a size such as 256MB, 64KB or 1GB; got '{text}'");
    }

    private static (int Height, int Width) ParseSize(string size)
    {
        var parts = size.ToLowerInvariant().Split('x');
        return parts.Length == 2 && int.TryParse(parts[0], out var h) && int.TryParse(parts[1], out var w)
            ? (h, w)
            : throw new ClientException($"--size must be HxW, e.g. 32x32; got '{size}'");
    }
}

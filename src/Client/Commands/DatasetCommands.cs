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
        var from = new Option<string>("--from") { Description = "fashion-mnist (IDX files) or images (a folder: one sub-folder per class, or images only for an unlabeled pool)", DefaultValueFactory = _ => "fashion-mnist" };
        from.AcceptOnlyFromAmong("fashion-mnist", "images");
        var folder = new Argument<string?>("folder") { Description = "With --from images: the pool folder on the silo's machine", Arity = ArgumentArity.ZeroOrOne };
        var test = new Option<string?>("--test") { Description = "With --from images: a labeled test folder (default: hold out --test-fraction of a labeled pool)" };
        var testFraction = new Option<double>("--test-fraction") { Description = "With --from images and no --test: fraction of the pool held out for testing", DefaultValueFactory = _ => 0.2 };
        var channels = new Option<int>("--channels") { Description = "With --from images: 1 (grayscale) or 3 (RGB)", DefaultValueFactory = _ => 3 };
        var size = new Option<string>("--size") { Description = "With --from images: stored size HxW; every image is resized to it", DefaultValueFactory = _ => "32x32" };
        var skipBad = new Option<bool>("--skip-bad") { Description = "With --from images: leave unreadable images out (each reported by path) instead of refusing the import" };
        var seed = new Option<long>("--seed") { Description = "With --from images: seed of the held-out test split", DefaultValueFactory = _ => 0 };
        var import = new Command("import", "Import Fashion-MNIST or an image folder as pool shards plus a test shard") { id, from, folder, data, shards, limit, test, testFraction, channels, size, skipBad, seed };
        import.SetAction((p, ct) => Run(p, async (c, json) =>
        {
            var grain = c.GetGrain<IDatasetGrain>(p.GetValue(id)!);
            if (p.GetValue(from) == "images")
            {
                var dir = p.GetValue(folder) ?? p.GetValue(data) ?? throw new ClientException("--from images needs the pool folder: prunefuse dataset import --from images DIR");
                var (height, width) = ParseSize(p.GetValue(size)!);
                var request = new ImageImportRequest
                {
                    PoolDirectory = Path.GetFullPath(dir), TestDirectory = p.GetValue(test) is { } t ? Path.GetFullPath(t) : "", TestFraction = p.GetValue(testFraction),
                    Channels = p.GetValue(channels), Height = height, Width = width, Shards = p.GetValue(shards), SkipBad = p.GetValue(skipBad), Seed = p.GetValue(seed),
                };
                var result = await WithImportProgress(grain, grain.ImportImages(request), json, ct);
                foreach (var skipped in result.Skipped) Console.Error.WriteLine($"skipped unreadable image {skipped}");
                var d = result.Dataset;
                Print(json, result, $"{(result.AlreadyImported ? "already imported" : "imported")} '{d.DatasetId}' from images: {d.PoolSize} pool samples{(d.PoolLabeled ? "" : " (unlabeled)")} in {d.Shards} shards, " +
                    $"{d.TestSize} test samples, {d.Classes} classes ({string.Join(", ", d.ClassNames)}), shape {string.Join("×", d.Shape)}" +
                    $"{(result.Skipped.Length > 0 ? $", {result.Skipped.Length} unreadable images skipped" : "")}{(result.Ignored > 0 ? $", {result.Ignored} non-image files ignored" : "")}");
                return 0;
            }
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

    private static (int Height, int Width) ParseSize(string size)
    {
        var parts = size.ToLowerInvariant().Split('x');
        return parts.Length == 2 && int.TryParse(parts[0], out var h) && int.TryParse(parts[1], out var w)
            ? (h, w)
            : throw new ClientException($"--size must be HxW, e.g. 32x32; got '{size}'");
    }
}

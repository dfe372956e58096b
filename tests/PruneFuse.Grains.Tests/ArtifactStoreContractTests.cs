using System.Text;
using PruneFuse.Grains.Storage;

namespace PruneFuse.Grains.Tests;

/// <summary>The behaviour every <see cref="IArtifactStore"/> must have; run against each implementation.</summary>
public abstract class ArtifactStoreContractTests
{
    protected abstract IArtifactStore Store { get; }

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task Put_then_read_round_trips_content_and_info()
    {
        var info = await Store.PutBytesAsync("datasets/d1/manifest.json", Bytes("{\"a\":1}"));
        Assert.Equal("datasets/d1/manifest.json", info.Name);
        Assert.Equal(7, info.Length);
        Assert.False(string.IsNullOrEmpty(info.ETag));
        Assert.Equal("{\"a\":1}", Encoding.UTF8.GetString(await Store.ReadBytesAsync("datasets/d1/manifest.json")));
        var again = await Store.GetInfoAsync("datasets/d1/manifest.json");
        Assert.Equal(info.ETag, again!.ETag);
    }

    [Fact]
    public async Task Overwrite_changes_etag_and_no_overwrite_conflicts()
    {
        var first = await Store.PutBytesAsync("experiments/e1/spec.json", Bytes("one"));
        var second = await Store.PutBytesAsync("experiments/e1/spec.json", Bytes("second"));
        Assert.NotEqual(first.ETag, second.ETag);
        var e = await Assert.ThrowsAsync<ArtifactConflictException>(() => Store.PutBytesAsync("experiments/e1/spec.json", Bytes("third"), overwrite: false));
        Assert.Contains("experiments/e1/spec.json", e.Message);
        Assert.Equal("second", Encoding.UTF8.GetString(await Store.ReadBytesAsync("experiments/e1/spec.json")));
        var created = await Store.PutBytesAsync("experiments/e1/new.json", Bytes("x"), overwrite: false);
        Assert.Equal(1, created.Length);
    }

    [Fact]
    public async Task Missing_artifact_is_a_named_error_or_null()
    {
        var e = await Assert.ThrowsAsync<ArtifactNotFoundException>(() => Store.OpenReadAsync("experiments/nope/spec.json"));
        Assert.Contains("'experiments/nope/spec.json' not found", e.Message);
        Assert.Null(await Store.GetInfoAsync("experiments/nope/spec.json"));
        Assert.False(await Store.DeleteAsync("experiments/nope/spec.json"));
    }

    [Fact]
    public async Task List_returns_prefix_matches_in_name_order_and_delete_removes()
    {
        await Store.PutBytesAsync("datasets/ls/shards/shard-0001.pfs", Bytes("1"));
        await Store.PutBytesAsync("datasets/ls/shards/shard-0000.pfs", Bytes("0"));
        await Store.PutBytesAsync("datasets/ls/test.pfs", Bytes("t"));
        await Store.PutBytesAsync("datasets/other/test.pfs", Bytes("o"));
        var names = new List<string>();
        await foreach (var a in Store.ListAsync("datasets/ls/")) names.Add(a.Name);
        Assert.Equal(["datasets/ls/shards/shard-0000.pfs", "datasets/ls/shards/shard-0001.pfs", "datasets/ls/test.pfs"], names);
        Assert.True(await Store.DeleteAsync("datasets/ls/test.pfs"));
        Assert.Null(await Store.GetInfoAsync("datasets/ls/test.pfs"));
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("a/../../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("a/./b")]
    [InlineData("a/b/")]
    [InlineData("a\\b")]
    [InlineData("a/b c")]
    [InlineData("")]
    public async Task Hostile_names_are_refused_and_nothing_is_written(string name)
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Store.PutBytesAsync(name, Bytes("x")));
        Assert.Contains("artifact name", e.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => Store.OpenReadAsync(name));
    }

    [Fact]
    public async Task Large_artifact_streams_through()
    {
        var big = new byte[5 * 1024 * 1024 + 17];
        new Random(1).NextBytes(big);
        await Store.PutBytesAsync("experiments/big/checkpoints/theta0.pfc", big);
        Assert.Equal(big, await Store.ReadBytesAsync("experiments/big/checkpoints/theta0.pfc"));
    }
}

public sealed class FileSystemArtifactStoreTests : ArtifactStoreContractTests, IDisposable
{
    private readonly TempDir _dir = new("prunefuse-store-");

    public FileSystemArtifactStoreTests() => Store = new FileSystemArtifactStore(_dir.Path);

    protected override IArtifactStore Store { get; }

    [Fact]
    public async Task Writes_stay_inside_the_root_and_leave_no_temporary_files()
    {
        await Store.PutBytesAsync("a/b/c.bin", [1, 2, 3]);
        var files = Directory.GetFiles(_dir.Path, "*", SearchOption.AllDirectories);
        Assert.Equal([Path.Combine(_dir.Path, "a", "b", "c.bin")], files);
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(_dir.Path)!, "x")));
    }

    public void Dispose() => _dir.Dispose();
}

[CollectionDefinition("azurite")]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>;

[Collection("azurite")]
public sealed class AzureBlobArtifactStoreTests(AzuriteFixture azurite) : ArtifactStoreContractTests
{
    protected override IArtifactStore Store { get; } = new AzureBlobArtifactStore(azurite.BlobService, "t" + Guid.NewGuid().ToString("N")[..20]);

    [Fact]
    public void Description_names_the_container_but_no_key()
    {
        Assert.Contains("blob container", Store.Description);
        Assert.DoesNotContain("AccountKey", Store.Description);
        Assert.DoesNotContain("Eby8", Store.Description);
    }
}

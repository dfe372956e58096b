using System.IO.Compression;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Runtime;

namespace PruneFuse.Learning.Tests;

public class DataFormatTests
{
    public DataFormatTests() => TorchRuntime.EnsureLoaded();

    [Fact]
    public void Real_fashion_mnist_loads_from_the_debian_package()
    {
        var train = TestData.Train;
        var test = TestData.Test;
        Assert.Equal(60_000, train.Count);
        Assert.Equal(10_000, test.Count);
        Assert.Equal((1, 28, 28), (train.Channels, train.Height, train.Width));
        Assert.Equal(Enumerable.Range(0, 10), train.Labels.Distinct().Order());
        Assert.All(Enumerable.Range(0, 10), c => Assert.Equal(6000, train.Labels.Count(l => l == c)));
        var norm = train.ComputeNormalization();
        Assert.Equal(0.2860, norm.Mean[0], 3);
        Assert.Equal(0.3530, norm.Std[0], 3);
        Assert.Empty(train.Ids.Intersect(test.Ids));
    }

    internal static byte[] Idx(byte dtype, byte ndim, int[] dims, int dataBytes)
    {
        var ms = new MemoryStream();
        ms.Write([0, 0, dtype, ndim]);
        foreach (var d in dims)
        {
            var b = BitConverter.GetBytes(d);
            Array.Reverse(b);
            ms.Write(b);
        }
        ms.Write(new byte[dataBytes]);
        return ms.ToArray();
    }

    private static byte[] Gzip(byte[] data)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    [Fact]
    public void Idx_reads_plain_and_gzip()
    {
        var raw = Idx(0x08, 3, [2, 3, 4], 24);
        Assert.Equal([2, 3, 4], IdxFile.Read(new MemoryStream(raw), "plain").Dimensions);
        Assert.Equal(24, IdxFile.Read(new MemoryStream(Gzip(raw)), "gz").Data.Length);
    }

    [Theory]
    [InlineData("magic")]
    [InlineData("dtype")]
    [InlineData("ndim")]
    [InlineData("truncated")]
    [InlineData("extra")]
    [InlineData("truncated-header")]
    [InlineData("zero-dim")]
    [InlineData("gzip-corrupt")]
    [InlineData("gzip-truncated")]
    public void Malformed_idx_names_file_and_problem(string kind)
    {
        var good = Idx(0x08, 3, [2, 3, 4], 24);
        byte[] bad = kind switch
        {
            "magic" => [0x12, 0x34, .. good[2..]],
            "dtype" => [0, 0, 0x0D, .. good[3..]],
            "ndim" => [0, 0, 8, 9, .. good[4..]],
            "truncated" => good[..^5],
            "extra" => [.. good, 1, 2, 3],
            "truncated-header" => good[..9],
            "zero-dim" => Idx(0x08, 2, [0, 3], 0),
            "gzip-corrupt" => Corrupt(Gzip(good)),
            "gzip-truncated" => Gzip(good)[..20],
            _ => throw new InvalidOperationException(),
        };
        var e = Assert.Throws<DataFormatException>(() => IdxFile.Read(new MemoryStream(bad), $"bad-{kind}.idx"));
        Assert.StartsWith($"bad-{kind}.idx: ", e.Message);
        var expectedWord = kind switch
        {
            "magic" => "magic",
            "dtype" => "data type",
            "ndim" => "dimensions",
            "truncated" or "truncated-header" => "truncated",
            "extra" => "unexpected bytes",
            "zero-dim" => "size 0",
            _ => "gzip",
        };
        Assert.Contains(expectedWord, e.Message);
    }

    private static byte[] Corrupt(byte[] gz)
    {
        var copy = gz.ToArray();
        for (var i = 12; i < copy.Length - 8; i++) copy[i] ^= 0x5A;
        return copy;
    }

    private static ImageSet SmallSet(int n = 300) => TestData.Train.Take(n);

    [Fact]
    public void Shard_round_trips_and_streams_in_batches()
    {
        var set = SmallSet();
        var ms = new MemoryStream();
        PoolShardFormat.Write(ms, set, 10);
        Assert.Equal(PoolShardFormat.HeaderLength + 300L * (8 + 4 + 784), ms.Length);
        ms.Position = 0;
        using var reader = new PoolShardReader(ms, "shard");
        Assert.Equal(new PoolShardHeader(1, 300, 1, 28, 28, 10), reader.Header);
        var batches = reader.ReadBatches(128).ToList();
        Assert.Equal([128, 128, 44], batches.Select(b => b.Count));
        Assert.Equal(set.Ids, batches.SelectMany(b => b.Ids));
        Assert.Equal(set.Labels, batches.SelectMany(b => b.Labels));
        Assert.Equal(set.Pixels, batches.SelectMany(b => b.Pixels));
    }

    [Theory]
    [InlineData("truncated-pixels")]
    [InlineData("truncated-header")]
    [InlineData("flipped-pixel")]
    [InlineData("flipped-id")]
    [InlineData("flipped-header")]
    [InlineData("bad-magic")]
    [InlineData("extra-bytes")]
    [InlineData("empty")]
    public void Malformed_shard_names_file_and_problem(string kind)
    {
        var ms = new MemoryStream();
        PoolShardFormat.Write(ms, SmallSet(50), 10);
        var good = ms.ToArray();
        var bad = good.ToArray();
        switch (kind)
        {
            case "truncated-pixels": bad = good[..^100]; break;
            case "truncated-header": bad = good[..30]; break;
            case "flipped-pixel": bad[^10] ^= 0x01; break;
            case "flipped-id": bad[PoolShardFormat.HeaderLength + 3] ^= 0x80; break;
            case "flipped-header": bad[13] ^= 0x01; break;
            case "bad-magic": bad[0] = (byte)'X'; break;
            case "extra-bytes": bad = [.. good, 0, 0]; break;
            case "empty": bad = []; break;
        }
        using var dir = new TempDir();
        var path = dir.File($"{kind}.pfs");
        File.WriteAllBytes(path, bad);
        var e = Assert.Throws<DataFormatException>(() => PoolShardFormat.ReadFile(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(kind switch
        {
            "truncated-pixels" or "truncated-header" or "empty" => "truncated",
            "flipped-pixel" or "flipped-id" => "checksum",
            "flipped-header" => "header checksum",
            "bad-magic" => "magic",
            _ => "unexpected bytes",
        }, e.Message);
    }

    [Fact]
    public void Non_seekable_truncated_shard_fails_while_streaming()
    {
        var ms = new MemoryStream();
        PoolShardFormat.Write(ms, SmallSet(100), 10);
        var truncated = new NonSeekable(ms.ToArray()[..^500]);
        using var reader = new PoolShardReader(truncated, "blob:pool/shard-0");
        var e = Assert.Throws<DataFormatException>(() => reader.ReadBatches(32).ToList());
        Assert.Contains("blob:pool/shard-0: truncated: pixels end after", e.Message);
    }

    [Fact]
    public void Checkpoint_round_trips_network_and_plan()
    {
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet20", 1, 10), 8);
        var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
        using var selector = ChannelPruner.Extract(theta0, plan);
        using var dir = new TempDir();
        var path = dir.File("selector.pfc");
        Checkpoint.SaveFile(path, selector, plan, new Dictionary<string, string> { ["round"] = "3" });
        var (loaded, meta) = Checkpoint.LoadFile(path);
        using (loaded)
        {
            Assert.True(loaded.Spec.SameShapeAs(plan.Pruned));
            Assert.Equal("3", meta.Tags["round"]);
            Assert.Equal(plan.Groups.Select(g => g.Kept), meta.Plan!.Groups.Select(g => g.Kept));
            foreach (var (name, t) in selector.state_dict()) Assert.True(Identical(t, loaded.state_dict()[name]), name);
        }
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("flipped")]
    [InlineData("bad-magic")]
    [InlineData("empty")]
    public void Corrupted_checkpoint_names_file_and_problem(string kind)
    {
        using var model = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 1);
        var good = Checkpoint.Save(model);
        var bad = kind switch
        {
            "truncated" => good[..(good.Length / 2)],
            "flipped" => Flip(good, good.Length / 2),
            "bad-magic" => Flip(good, 0),
            _ => [],
        };
        var e = Assert.Throws<DataFormatException>(() => Checkpoint.Load(bad, "ckpt/round-2.pfc"));
        Assert.StartsWith("ckpt/round-2.pfc: ", e.Message);
        Assert.Contains(kind switch { "bad-magic" => "bad magic", "flipped" => "checksum", _ => "truncated" }, e.Message);
    }

    private static byte[] Flip(byte[] b, int at)
    {
        var c = b.ToArray();
        c[at] ^= 0x10;
        return c;
    }

    [Fact]
    public void Checkpoint_with_mismatched_shapes_names_the_tensor()
    {
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 1);
        var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
        using var selector = ChannelPruner.Extract(theta0, plan);
        // Tensors of the pruned network under metadata that claims the dense network.
        var bytes = Checkpoint.SaveWithMetadata(selector, new CheckpointMetadata { Network = plan.Dense });
        var e = Assert.Throws<DataFormatException>(() => Checkpoint.Load(bytes, "mismatch.pfc"));
        Assert.Contains("mismatch.pfc: tensor 'conv1.weight' has shape [8,1,3,3] but the network expects [16,1,3,3]", e.Message);
    }

    [Fact]
    public void Checkpoint_with_unknown_arch_in_metadata_is_refused()
    {
        using var model = Network.Create(NetworkSpec.Dense("resnet8", 1, 10), 1);
        var bytes = Checkpoint.SaveWithMetadata(model, new CheckpointMetadata { Network = model.Spec with { Arch = "resnet9" } });
        var e = Assert.Throws<DataFormatException>(() => Checkpoint.Load(bytes, "x.pfc"));
        Assert.Contains("unknown architecture 'resnet9'", e.Message);
    }

    private sealed class NonSeekable(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

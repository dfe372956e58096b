using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Runtime;

namespace PruneFuse.Learning.Tests;

/// <summary>
/// Malformed inputs whose checksums are valid (forged), so the field checks behind the checksum are reached:
/// a buggy writer, not a flipped bit, produced them.
/// </summary>
public class ForgedInputTests
{
    public ForgedInputTests() => TorchRuntime.EnsureLoaded();

    private static byte[] GoodShard(int n = 20)
    {
        var ms = new MemoryStream();
        PoolShardFormat.Write(ms, TestData.Train.Take(n), 10);
        return ms.ToArray();
    }

    /// <summary>Rewrites a header field (and the payload if asked) and recomputes both checksums.</summary>
    private static byte[] ForgeShard(Action<byte[]> mutate)
    {
        var b = GoodShard();
        mutate(b);
        var payload = Crc32.HashToUInt32(b.AsSpan(PoolShardFormat.HeaderLength));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(40), payload);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(44), Crc32.HashToUInt32(b.AsSpan(0, 44)));
        return b;
    }

    [Theory]
    [InlineData(8, 2, "unsupported format version 2")]
    [InlineData(16, 9, "field channels: 9")]
    [InlineData(20, 0, "field shape: 0×28")]
    [InlineData(12, -5, "field sampleCount: -5")]
    [InlineData(32, 1, "field numClasses: 1")]
    public void Shard_header_fields_are_checked_by_name(int offset, int value, string expected)
    {
        var bad = ForgeShard(b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(offset), value));
        var e = Assert.Throws<DataFormatException>(() => new PoolShardReader(new MemoryStream(bad), "forged.pfs"));
        Assert.Contains("forged.pfs: " + expected, e.Message);
    }

    [Fact]
    public void Shard_dtype_and_label_range_are_checked_by_name()
    {
        var dtype = ForgeShard(b => b[28] = 7);
        Assert.Contains("field dtype: 7", Assert.Throws<DataFormatException>(() => new PoolShardReader(new MemoryStream(dtype), "d.pfs")).Message);
        // Label of sample 3 set to 12 with 10 classes.
        var label = ForgeShard(b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(PoolShardFormat.HeaderLength + 20 * 8 + 3 * 4), 12));
        var e = Assert.Throws<DataFormatException>(() => new PoolShardReader(new MemoryStream(label), "l.pfs"));
        Assert.Contains("l.pfs: field labels: sample 3 has label 12, outside -1..9", e.Message);
    }

    [Fact]
    public void Shard_writer_refuses_what_the_reader_would_refuse()
    {
        var set = new ImageSet([1, 2], [0, 11], new byte[2 * 4], 1, 2, 2);
        Assert.Contains("sample 2 has label 11", Assert.Throws<ArgumentException>(() => PoolShardFormat.Write(new MemoryStream(), set, 10)).Message);
        var dup = new ImageSet([1, 1], [0, 1], new byte[2 * 4], 1, 2, 2);
        Assert.Contains("unique", Assert.Throws<ArgumentException>(() => PoolShardFormat.Write(new MemoryStream(), dup, 10)).Message);
    }

    /// <summary>Edits a checkpoint's bytes and recomputes its trailing checksum.</summary>
    private static byte[] ForgeCheckpoint(byte[] good, Func<byte[], byte[]> edit)
    {
        var body = edit(good[..^4]);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(crc, Crc32.HashToUInt32(body));
        return [.. body, .. crc];
    }

    private static byte[] GoodCheckpoint()
    {
        using var model = Network.Create(NetworkSpec.Dense("resnet8", 1, 10, 0.25), 1);
        return Checkpoint.Save(model);
    }

    [Fact]
    public void Checkpoint_version_json_and_trailing_bytes_are_checked()
    {
        var good = GoodCheckpoint();
        var version = ForgeCheckpoint(good, b => { BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(8), 9); return b; });
        Assert.Contains("c.pfc: unsupported checkpoint version 9", Assert.Throws<DataFormatException>(() => Checkpoint.Load(version, "c.pfc")).Message);

        var jsonLength = BinaryPrimitives.ReadInt32LittleEndian(good.AsSpan(12));
        var badJson = ForgeCheckpoint(good, b => { b[16] = (byte)'#'; return b; });
        Assert.Contains("metadata is not valid JSON", Assert.Throws<DataFormatException>(() => Checkpoint.Load(badJson, "c.pfc")).Message);

        var trailing = ForgeCheckpoint(good, b => [.. b, 1, 2, 3]);
        Assert.Contains("3 unexpected bytes after the last tensor", Assert.Throws<DataFormatException>(() => Checkpoint.Load(trailing, "c.pfc")).Message);
        Assert.True(jsonLength > 0);
    }

    [Fact]
    public void Checkpoint_unknown_tensor_and_nan_values_are_named()
    {
        var good = GoodCheckpoint();
        var text = Encoding.Latin1.GetString(good);
        var renamed = ForgeCheckpoint(good, b => Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(b).Replace("fc.bias", "fc.bia5", StringComparison.Ordinal)));
        Assert.Contains("unexpected tensor 'fc.bia5'", Assert.Throws<DataFormatException>(() => Checkpoint.Load(renamed, "c.pfc")).Message);

        // fc.bias is the last tensor: its 10 float32 values end the body. Make one NaN.
        var nan = ForgeCheckpoint(good, b => { BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(b.Length - 8), float.NaN); return b; });
        Assert.Contains("tensor 'fc.bias' contains NaN", Assert.Throws<DataFormatException>(() => Checkpoint.Load(nan, "c.pfc")).Message);
        Assert.Contains("fc.bias", text);
    }

    [Fact]
    public void Idx_image_and_label_counts_must_agree()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("train-images-idx3-ubyte"), DataFormatTests.Idx(0x08, 3, [3, 2, 2], 12));
        File.WriteAllBytes(dir.File("train-labels-idx1-ubyte"), DataFormatTests.Idx(0x08, 1, [2], 2));
        var e = Assert.Throws<DataFormatException>(() => FashionMnist.Load(dir.Path, "train", 0));
        Assert.Contains("3 images but 2 labels", e.Message);
        Assert.Contains(dir.File("train-images-idx3-ubyte"), e.Message);

        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(DataFormatTests.Idx(0x08, 1, [3], 3));
        File.Delete(dir.File("train-labels-idx1-ubyte"));
        File.WriteAllBytes(dir.File("train-labels-idx1-ubyte.gz"), ms.ToArray());
        File.WriteAllBytes(dir.File("train-images-idx3-ubyte"), DataFormatTests.Idx(0x08, 2, [3, 4], 12));
        Assert.Contains("expected 3 dimensions", Assert.Throws<DataFormatException>(() => FashionMnist.Load(dir.Path, "train", 0)).Message);
    }

    [Fact]
    public void Missing_dataset_directory_says_how_to_install()
    {
        var e = Assert.Throws<DirectoryNotFoundException>(() => FashionMnist.Locate("/nonexistent/fmnist"));
        Assert.Contains("/nonexistent/fmnist", e.Message);
    }
}

using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Data;

/// <summary>Metadata stored with a network: its spec, the channel plan it came from (if pruned) and free-form
/// tags.</summary>
public sealed record CheckpointMetadata
{
    /// <summary>The network's shape; the network is rebuilt from this before its tensors are loaded.</summary>
    public required NetworkSpec Network { get; init; }

    /// <summary>The channel plan relating this network to its dense parent; null for a dense network without a
    /// plan.</summary>
    public ChannelPlan? Plan { get; init; }

    /// <summary>Free-form tags (experiment id, round, role).</summary>
    public Dictionary<string, string> Tags { get; init; } = [];

    /// <summary>
    /// The input normalisation the network was made for when it is not its dataset's (ImageNet weights); null for
    /// the dataset's own statistics.
    /// </summary>
    public ImageNormalization? Normalization { get; init; }

    /// <summary>This network's normalisation: its own, else <paramref name="dataset"/>'s.</summary>
    public ImageNormalization NormalizationOr(ImageNormalization dataset) => Normalization ?? dataset;
}

/// <summary>
/// Checkpoint file: magic <c>PFCKPT</c>+LF NUL, version, JSON metadata (spec, channel plan, tags), then every
/// state-dict tensor (name, dtype, shape, little-endian data) and a CRC-32 of everything before it. Loading
/// rebuilds the network from its spec and refuses any missing, extra or mis-shaped tensor by name.
/// </summary>
public static class Checkpoint
{
    /// <summary>Current format version.</summary>
    public const int Version = 1;

    private static ReadOnlySpan<byte> Magic => "PFCKPT\n\0"u8;

    private const byte DtypeFloat32 = 0;
    private const byte DtypeInt64 = 1;

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter() },
        WriteIndented = false,
    };

    /// <summary>Serialises <paramref name="model"/> with its plan and tags.</summary>
    public static byte[] Save(Network model, ChannelPlan? plan = null, IReadOnlyDictionary<string, string>? tags = null, ImageNormalization? normalization = null) =>
        SaveWithMetadata(model, new CheckpointMetadata { Network = model.Spec, Plan = plan, Tags = tags?.ToDictionary() ?? [], Normalization = normalization });

    /// <summary>Serialises <paramref name="model"/>'s tensors under the given metadata (tests use it to forge
    /// mismatches).</summary>
    internal static byte[] SaveWithMetadata(Network model, CheckpointMetadata meta)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            var json = JsonSerializer.SerializeToUtf8Bytes(meta, Json);
            w.Write(json.Length);
            w.Write(json);
            var state = model.state_dict();
            var names = model.Description.Tensors.Select(t => t.Name).ToList();
            w.Write(names.Count);
            foreach (var name in names)
            {
                using var t = state[name].detach().cpu();
                var nameBytes = Encoding.UTF8.GetBytes(name);
                w.Write((ushort)nameBytes.Length);
                w.Write(nameBytes);
                var isLong = t.dtype == ScalarType.Int64;
                w.Write(isLong ? DtypeInt64 : DtypeFloat32);
                w.Write((byte)t.shape.Length);
                foreach (var d in t.shape) w.Write(d);
                if (isLong)
                {
                    foreach (var v in t.data<long>()) w.Write(v);
                }
                else
                {
                    using var f = t.to_type(ScalarType.Float32);
                    var arr = f.data<float>().ToArray();
                    w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(arr.AsSpan()));
                }
            }
        }
        var crc = Crc32.HashToUInt32(ms.GetBuffer().AsSpan(0, (int)ms.Length));
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(tail, crc);
        ms.Write(tail);
        return ms.ToArray();
    }

    /// <summary>Writes a checkpoint file atomically.</summary>
    public static void SaveFile(string path, Network model, ChannelPlan? plan = null, IReadOnlyDictionary<string, string>? tags = null)
    {
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, Save(model, plan, tags));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Loads a checkpoint file.</summary>
    public static (Network Model, CheckpointMetadata Metadata) LoadFile(string path) => Load(File.ReadAllBytes(path), path);

    /// <summary>Reads only the metadata of a checkpoint (verifies the checksum).</summary>
    public static CheckpointMetadata ReadMetadata(byte[] bytes, string source) => Parse(bytes, source, out _);

    /// <summary>
    /// Rebuilds the network described by the checkpoint and loads its tensors. Throws <see cref="DataFormatException"/>
    /// naming <paramref name="source"/> and the problem for any truncation, corruption or mismatch.
    /// </summary>
    public static (Network Model, CheckpointMetadata Metadata) Load(byte[] bytes, string source)
    {
        Runtime.TorchRuntime.EnsureLoaded();
        var meta = Parse(bytes, source, out var offset);
        var model = new Network(meta.Network);
        try
        {
            LoadTensors(model, meta, bytes, offset, source);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return (model, meta);
    }

    private static void LoadTensors(Network model, CheckpointMetadata meta, byte[] bytes, int offset, string source)
    {
        var state = model.state_dict();
        var expected = model.Description.Shapes();
        var r = new SpanReader(bytes, offset, bytes.Length - 4, source);
        var count = r.Int32("tensor count");
        if (count != expected.Count) throw new DataFormatException(source, $"holds {count} tensors, {meta.Network.Arch} has {expected.Count}");
        var seen = new HashSet<string>();
        using (no_grad())
        {
            for (var i = 0; i < count; i++)
            {
                var nameLength = r.UInt16("tensor name length");
                var name = Encoding.UTF8.GetString(r.Bytes(nameLength, "tensor name"));
                if (!expected.TryGetValue(name, out var shape)) throw new DataFormatException(source, $"unexpected tensor '{name}' for {meta.Network.Arch}");
                if (!seen.Add(name)) throw new DataFormatException(source, $"tensor '{name}' appears twice");
                var dtype = r.Byte($"dtype of '{name}'");
                var ndim = r.Byte($"rank of '{name}'");
                var dims = new long[ndim];
                for (var d = 0; d < ndim; d++) dims[d] = r.Int64($"shape of '{name}'");
                if (!dims.SequenceEqual(shape))
                {
                    throw new DataFormatException(source, $"tensor '{name}' has shape [{string.Join(",", dims)}] but the network expects [{string.Join(",", shape)}]");
                }
                var numel = (int)dims.Aggregate(1L, (a, b) => a * b);
                var target = state[name];
                if (dtype == DtypeInt64)
                {
                    if (target.dtype != ScalarType.Int64) throw new DataFormatException(source, $"tensor '{name}' is stored as int64 but the network holds {target.dtype}");
                    var raw = r.Bytes(numel * 8, $"data of '{name}'");
                    var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(raw).ToArray();
                    using var src = tensor(values).reshape(dims);
                    target.copy_(src);
                }
                else if (dtype == DtypeFloat32)
                {
                    if (target.dtype == ScalarType.Int64) throw new DataFormatException(source, $"tensor '{name}' is stored as float32 but the network holds int64");
                    var raw = r.Bytes(numel * 4, $"data of '{name}'");
                    var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw).ToArray();
                    if (values.Any(v => !float.IsFinite(v))) throw new DataFormatException(source, $"tensor '{name}' contains NaN or infinite values");
                    using var src = tensor(values).reshape(dims);
                    target.copy_(src);
                }
                else
                {
                    throw new DataFormatException(source, $"tensor '{name}' has unknown dtype code {dtype}");
                }
            }
        }
        if (r.Remaining != 0) throw new DataFormatException(source, $"{r.Remaining} unexpected bytes after the last tensor");
    }

    private static CheckpointMetadata Parse(byte[] bytes, string source, out int offset)
    {
        if (bytes.Length < Magic.Length + 12) throw new DataFormatException(source, $"truncated: {bytes.Length} bytes is shorter than a checkpoint header");
        if (!bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic)) throw new DataFormatException(source, "not a PruneFuse checkpoint (bad magic)");
        var stored = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4));
        if (Crc32.HashToUInt32(bytes.AsSpan(0, bytes.Length - 4)) != stored)
        {
            throw new DataFormatException(source, "checksum mismatch: the checkpoint is truncated or corrupted");
        }
        var r = new SpanReader(bytes, Magic.Length, bytes.Length - 4, source);
        var version = r.Int32("version");
        if (version != Version) throw new DataFormatException(source, $"unsupported checkpoint version {version} (this build reads version {Version})");
        var jsonLength = r.Int32("metadata length");
        if (jsonLength <= 0 || jsonLength > r.Remaining) throw new DataFormatException(source, $"field metadata length: {jsonLength} is out of range");
        CheckpointMetadata? meta;
        try
        {
            meta = JsonSerializer.Deserialize<CheckpointMetadata>(r.Bytes(jsonLength, "metadata"), Json);
        }
        catch (JsonException e)
        {
            throw new DataFormatException(source, $"metadata is not valid JSON: {e.Message}", e);
        }
        if (meta?.Network is null) throw new DataFormatException(source, "metadata has no network spec");
        try
        {
            meta.Network.Validate("network spec");
            meta.Plan?.Validate("channel plan");
            if (meta.Normalization is { } n && (n.Mean?.Length != meta.Network.InputChannels || n.Std?.Length != meta.Network.InputChannels
                || n.Mean.Any(m => !float.IsFinite(m)) || n.Std.Any(d => !(d > 0) || !float.IsFinite(d))))
            {
                throw new ArgumentException($"the normalisation needs {meta.Network.InputChannels} finite means and positive deviations");
            }
            if (meta.Plan is not null && !meta.Plan.Pruned.SameShapeAs(meta.Network) && !meta.Plan.Dense.SameShapeAs(meta.Network))
            {
                throw new ArgumentException("the channel plan describes neither this network nor its dense parent");
            }
        }
        catch (ArgumentException e)
        {
            throw new DataFormatException(source, e.Message, e);
        }
        offset = r.Position;
        return meta;
    }

    private ref struct SpanReader(byte[] bytes, int position, int end, string source)
    {
        private readonly byte[] _bytes = bytes;
        private readonly int _end = end;
        private readonly string _source = source;

        public int Position { get; private set; } = position;

        public readonly int Remaining => _end - Position;

        public ReadOnlySpan<byte> Bytes(int n, string field)
        {
            if (n < 0 || n > Remaining) throw new DataFormatException(_source, $"truncated while reading {field} ({n} bytes needed, {Remaining} left)");
            var s = _bytes.AsSpan(Position, n);
            Position += n;
            return s;
        }

        public byte Byte(string field) => Bytes(1, field)[0];

        public ushort UInt16(string field) => BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2, field));

        public int Int32(string field) => BinaryPrimitives.ReadInt32LittleEndian(Bytes(4, field));

        public long Int64(string field) => BinaryPrimitives.ReadInt64LittleEndian(Bytes(8, field));
    }
}

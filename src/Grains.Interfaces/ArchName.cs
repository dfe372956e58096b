using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.Serialization.Buffers;
using Orleans.Serialization.Cloning;
using Orleans.Serialization.Codecs;
using Orleans.Serialization.WireProtocol;

namespace PruneFuse.Grains.Interfaces;

/// <summary>
/// A network architecture by the name users type (<c>resnet20</c>, <c>resnet18</c>, <c>wrn-28-10</c>,
/// <c>mobilenet_v2</c>), trimmed and lower-cased. The contract carries only the name: which names exist is the network
/// families' business (checked when an experiment starts), so adding a family changes no contract. In JSON and on
/// the wire it is a plain string, as the architecture always was, so stored specs read unchanged.
/// </summary>
[JsonConverter(typeof(ArchNameJsonConverter))]
public readonly record struct ArchName
{
    /// <summary>The default target, <c>resnet20</c>.</summary>
    public static ArchName ResNet20 { get; } = new("resnet20");

    /// <summary>The default proxy, <c>resnet8</c>.</summary>
    public static ArchName ResNet8 { get; } = new("resnet8");

    /// <summary>Creates the name, trimmed and lower-cased (stored specs spelled it <c>ResNet14</c>).</summary>
    public ArchName(string? name) => _value = name?.Trim().ToLowerInvariant() ?? "";

    private readonly string? _value;

    /// <summary>The canonical spelling; empty for a missing name.</summary>
    public string Value => _value ?? "";

    /// <inheritdoc />
    public override string ToString() => Value;

    /// <summary>The name as it is typed.</summary>
    public static implicit operator ArchName(string name) => new(name);
}

/// <summary>JSON form of an <see cref="ArchName"/>: a string.</summary>
public sealed class ArchNameJsonConverter : JsonConverter<ArchName>
{
    /// <inheritdoc />
    public override ArchName Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String ? new ArchName(reader.GetString()) : throw new JsonException("architecture must be a string such as resnet20");

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, ArchName value, JsonSerializerOptions options) => writer.WriteStringValue(value.Value);
}

/// <summary>Orleans wire form of an <see cref="ArchName"/>: the string field the architecture has always
/// been.</summary>
[RegisterSerializer]
internal sealed class ArchNameCodec : IFieldCodec<ArchName>
{
    public void WriteField<TBufferWriter>(ref Writer<TBufferWriter> writer, uint fieldIdDelta, Type? expectedType, ArchName value)
        where TBufferWriter : IBufferWriter<byte> => StringCodec.WriteField(ref writer, fieldIdDelta, value.Value);

    public ArchName ReadValue<TInput>(ref Reader<TInput> reader, Field field) => new(StringCodec.ReadValue(ref reader, field));
}

/// <summary>An <see cref="ArchName"/> is immutable: copies are the value itself.</summary>
[RegisterCopier]
internal sealed class ArchNameCopier : IDeepCopier<ArchName>
{
    public ArchName DeepCopy(ArchName input, CopyContext context) => input;
}

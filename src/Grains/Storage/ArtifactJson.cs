using System.Text.Json;
using PruneFuse.Learning.Data;

namespace PruneFuse.Grains.Storage;

/// <summary>
/// The JSON form of every JSON artifact the grains write (spec, labeled sets, selections, labels, shard scores,
/// reports): one set of options, and decoding errors that name the artifact.
/// </summary>
public static class ArtifactJson
{
    /// <summary>camelCase names; enums as numbers.</summary>
    public static JsonSerializerOptions Options { get; } = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The artifact bytes of <paramref name="value"/>.</summary>
    public static byte[] Encode<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    /// <summary>Decodes an artifact; anything unreadable is a <see cref="DataFormatException"/> naming <paramref name="source"/> and <paramref name="what"/>.</summary>
    public static T Decode<T>(byte[] json, string source, string what)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Options) ?? throw new DataFormatException(source, $"{what} is null");
        }
        catch (JsonException e)
        {
            throw new DataFormatException(source, $"not a valid {what}: {e.Message}", e);
        }
    }

    /// <summary>Labeled-set content: the sample ids, sorted.</summary>
    public static byte[] Labeled(IEnumerable<long> ids) => Encode(ids.Order().ToArray());

    /// <summary>Parses a labeled-set artifact.</summary>
    public static long[] LabeledFrom(byte[] json, string source) => Decode<long[]>(json, source, "labeled set (a JSON array of sample ids)");
}

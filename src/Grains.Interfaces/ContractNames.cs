using System.Buffers;
using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.Serialization.Buffers;
using Orleans.Serialization.Codecs;
using Orleans.Serialization.WireProtocol;

namespace PruneFuse.Grains.Interfaces;

/// <summary>
/// The name a spec choice has in the console, in files and on the wire (<c>least-confidence</c>), and older spellings
/// still read (<c>lc</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Field)]
public sealed class ContractNameAttribute(string name, params string[] aliases) : Attribute
{
    /// <summary>The canonical name.</summary>
    public string Name { get; } = name;

    /// <summary>Other spellings accepted when reading.</summary>
    public IReadOnlyList<string> Aliases { get; } = aliases;
}

/// <summary>
/// The one list of names of each named spec choice (<see cref="Metric"/>, <see cref="PruningMethod"/>,
/// <see cref="LabelSource"/>, <see cref="SelectorKind"/>): console help, parsing, validation messages and docs all read
/// it.
/// Reading ignores case, '-' and '_' (so stored specs written as <c>ResNet14</c> or <c>least_confidence</c> still
/// load).
/// </summary>
public static class ContractNames
{
    private sealed record Table(string What, (Enum Value, string Name)[] Names, Dictionary<string, Enum> ByKey);

    private static readonly ConcurrentDictionary<Type, Table> Tables = new();

    private static Table Of(Type type) => Tables.GetOrAdd(type, t =>
    {
        var names = new List<(Enum, string)>();
        var byKey = new Dictionary<string, Enum>(StringComparer.Ordinal);
        foreach (var field in t.GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var attribute = field.GetCustomAttribute<ContractNameAttribute>()
                ?? throw new InvalidOperationException($"{t.Name}.{field.Name} has no [ContractName]");
            var value = (Enum)field.GetValue(null)!;
            names.Add((value, attribute.Name));
            foreach (var spelling in attribute.Aliases.Prepend(attribute.Name)) byKey.Add(Key(spelling), value);
        }
        var what = t.GetCustomAttribute<ContractChoiceAttribute>()?.What ?? t.Name;
        return new Table(what, [.. names], byKey);
    });

    private static string Key(string text) =>
        text.Trim().Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal).ToLowerInvariant();

    /// <summary>The canonical name of <paramref name="value"/>; an undefined value gives its number.</summary>
    public static string Name<T>(this T value) where T : struct, Enum
    {
        foreach (var (v, name) in Of(typeof(T)).Names)
        {
            if (v.Equals(value)) return name;
        }
        return Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Every canonical name, in declaration order.</summary>
    public static IReadOnlyList<string> Names<T>() where T : struct, Enum => [.. Of(typeof(T)).Names.Select(n => n.Name)];

    /// <summary>The names for help and errors: <c>l2, random</c>.</summary>
    public static string List<T>() where T : struct, Enum => string.Join(", ", Names<T>());

    /// <summary>What the choice is called in messages (<c>selection metric</c>).</summary>
    public static string What<T>() where T : struct, Enum => Of(typeof(T)).What;

    /// <summary>Whether <paramref name="value"/> is one of the named values.</summary>
    public static bool IsDefined<T>(T value) where T : struct, Enum => Of(typeof(T)).Names.Any(n => n.Value.Equals(value));

    /// <summary>Parses a name or alias; null when it is none.</summary>
    public static T? TryParse<T>(string? text) where T : struct, Enum =>
        text is not null && Of(typeof(T)).ByKey.TryGetValue(Key(text), out var value) ? (T)value : null;

    /// <summary>Parses a name or alias; anything else is an <see cref="ArgumentException"/> listing the
    /// names.</summary>
    public static T Parse<T>(string? text) where T : struct, Enum =>
        TryParse<T>(text) ?? throw new ArgumentException(Unknown<T>(text));

    /// <summary>"unknown selection metric 'badge'; known: least-confidence, …".</summary>
    public static string Unknown<T>(string? text) where T : struct, Enum => $"unknown {What<T>()} '{text}'; known: {List<T>()}";
}

/// <summary>What a named choice is called in messages.</summary>
[AttributeUsage(AttributeTargets.Enum)]
public sealed class ContractChoiceAttribute(string what) : Attribute
{
    /// <summary>For example <c>selection metric</c>.</summary>
    public string What { get; } = what;
}

/// <summary>
/// JSON form of a named choice: its canonical name; reads names and aliases. Stored specs (<c>spec.json</c>, grain
/// state
/// files) have always held these names as strings, so old files read unchanged.
/// </summary>
public sealed class ContractNameJsonConverter<T> : JsonConverter<T> where T : struct, Enum
{
    /// <inheritdoc />
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String) throw new JsonException($"{ContractNames.What<T>()} must be a string, one of {ContractNames.List<T>()}");
        var text = reader.GetString();
        return ContractNames.TryParse<T>(text) ?? throw new JsonException(ContractNames.Unknown<T>(text));
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(value.Name());
}

/// <summary>Puts <see cref="ContractNameJsonConverter{T}"/> in front of general enum converters (the console's
/// camelCase one).</summary>
public sealed class ContractNameJsonConverterFactory : JsonConverterFactory
{
    /// <inheritdoc />
    public override bool CanConvert(Type typeToConvert) => typeToConvert.IsEnum && typeToConvert.GetCustomAttribute<ContractChoiceAttribute>() is not null;

    /// <inheritdoc />
    public override JsonConverter? CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter?)Activator.CreateInstance(typeof(ContractNameJsonConverter<>).MakeGenericType(typeToConvert));
}

/// <summary>
/// Orleans wire form of a named choice: its name as a string, exactly as the spec's string fields were encoded before
/// they became enums, so coordinator state stored by earlier versions decodes (tested against stored bytes).
/// </summary>
public abstract class ContractNameCodec<T> : IFieldCodec<T> where T : struct, Enum
{
    /// <inheritdoc />
    public void WriteField<TBufferWriter>(ref Writer<TBufferWriter> writer, uint fieldIdDelta, Type? expectedType, T value)
        where TBufferWriter : IBufferWriter<byte> => StringCodec.WriteField(ref writer, fieldIdDelta, value.Name());

    /// <inheritdoc />
    public T ReadValue<TInput>(ref Reader<TInput> reader, Field field)
    {
        var text = StringCodec.ReadValue(ref reader, field);
        if (ContractNames.TryParse<T>(text) is { } value) return value;
        // An undefined value travels as its number so that the receiver's validation, not the decoder, names it.
        if (long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var number))
        {
            return (T)Enum.ToObject(typeof(T), number);
        }
        throw new InvalidDataException(ContractNames.Unknown<T>(text));
    }
}

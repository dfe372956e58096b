using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace PruneFuse.Grains.Interfaces;

/// <summary>
/// How contract records look as JSON to people and their tools (the console's <c>--json</c>, the silo's experiments
/// API): camelCase names, enums as lower-case names, α and θ unescaped. Stored artifacts have their own form.
/// </summary>
public static class ContractJson
{
    /// <summary>The options both the console and the silo write with.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new ContractNameJsonConverterFactory(), new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };
}

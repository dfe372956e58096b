using System.Text.Json;
using System.Text.Json.Serialization;

namespace PruneFuse.Learning.Models;

/// <summary>
/// A concrete network: its architecture (a name of a <see cref="INetworkFamily"/>), stem, input channels, classes
/// and the width of every channel group. Dense and pruned networks of one architecture differ only in
/// <see cref="Widths"/>, so their state-dict keys are identical. Stored as JSON in checkpoints and channel plans.
/// </summary>
[JsonConverter(typeof(NetworkSpecJsonConverter))]
public sealed record NetworkSpec
{
    /// <summary>Architecture name, e.g. <c>resnet20</c>.</summary>
    public required string Arch { get; init; }

    /// <summary>The family's stem (e.g. <c>small</c>); see <see cref="INetworkFamily.Stems"/>.</summary>
    public required string Stem { get; init; }

    /// <summary>Image channels (1 for Fashion-MNIST, 3 for RGB).</summary>
    public required int InputChannels { get; init; }

    /// <summary>Number of classes; the classifier's outputs are never pruned.</summary>
    public required int NumClasses { get; init; }

    /// <summary>Width of every channel group by group name, in the description's group order.</summary>
    public required IReadOnlyDictionary<string, int> Widths { get; init; }

    /// <summary>
    /// The width multiplier the dense network was built with. Widths say how wide every group is; the multiplier
    /// is kept because it can change the structure (a MobileNetV2 block adds its input where input and output widths
    /// happen to match).
    /// </summary>
    public double WidthMultiplier { get; init; } = 1.0;

    /// <summary>Dropout probability for families that have the option (<see cref="INetworkFamily.TakesDropout"/>); else
    /// 0.</summary>
    public double Dropout { get; init; }

    /// <summary>The dense network of <paramref name="arch"/> with widths × <paramref
    /// name="widthMultiplier"/>.</summary>
    public static NetworkSpec Dense(string arch, int inputChannels, int numClasses, double widthMultiplier = 1.0, string? stem = null, double dropout = 0)
    {
        var family = NetworkFamilies.Of(arch);
        if (inputChannels < 1) throw new ArgumentOutOfRangeException(nameof(inputChannels), inputChannels, "input channels must be at least 1");
        if (numClasses < 2) throw new ArgumentOutOfRangeException(nameof(numClasses), numClasses, "a classifier needs at least 2 classes");
        if (!(widthMultiplier > 0) || widthMultiplier > 16 || double.IsNaN(widthMultiplier))
        {
            throw new ArgumentOutOfRangeException(nameof(widthMultiplier), widthMultiplier, "width multiplier must be in (0, 16]");
        }
        var name = NetworkFamilies.Normalize(arch);
        CheckDropout(family, name, dropout);
        var resolved = NetworkFamilies.StemOf(family, name, stem);
        var description = family.Describe(name, resolved, widthMultiplier, inputChannels, numClasses, dropout);
        return new NetworkSpec
        {
            Arch = name, Stem = resolved, InputChannels = inputChannels, NumClasses = numClasses, Widths = description.GroupWidths(), Dropout = dropout,
            WidthMultiplier = widthMultiplier,
        };
    }

    private static void CheckDropout(INetworkFamily family, string arch, double dropout)
    {
        if (dropout == 0) return;
        if (!family.TakesDropout)
        {
            throw new ArgumentException($"{arch} has no dropout option; of the families only {string.Join(", ", NetworkFamilies.All.Where(f => f.TakesDropout).Select(f => f.Names))} take --dropout");
        }
        if (!(dropout > 0 && dropout < 1)) throw new ArgumentException($"dropout must be in [0, 1), got {dropout}");
    }

    /// <summary>The description of this network at its widths.</summary>
    public NetworkDescription Describe()
    {
        var family = NetworkFamilies.Of(Arch);
        CheckDropout(family, Arch, Dropout);
        return family.Describe(NetworkFamilies.Normalize(Arch), NetworkFamilies.StemOf(family, Arch, Stem), WidthMultiplier, InputChannels, NumClasses, Dropout).WithWidths(Widths);
    }

    /// <summary>This network with other group widths (the pruned network of a channel plan).</summary>
    public NetworkSpec WithWidths(IReadOnlyDictionary<string, int> widths) => this with { Widths = widths };

    /// <summary>Checks the spec names a known network and every one of its groups (used when a spec comes from a
    /// file).</summary>
    public void Validate(string source)
    {
        if (Arch is null) throw new ArgumentException($"{source}: architecture is missing");
        if (Widths is null) throw new ArgumentException($"{source}: group widths are missing");
        NetworkDescription description;
        try { description = Describe(); }
        catch (ArgumentException e) { throw new ArgumentException($"{source}: {e.Message}", e); }
        var missing = description.Groups.Select(g => g.Name).FirstOrDefault(g => !Widths.ContainsKey(g));
        if (missing is not null) throw new ArgumentException($"{source}: no width for channel group '{missing}' of {Arch}");
    }

    /// <summary>True when two specs describe the same architecture at the same widths.</summary>
    public bool SameShapeAs(NetworkSpec other) =>
        Arch == other.Arch && Stem == other.Stem && Dropout == other.Dropout && WidthMultiplier == other.WidthMultiplier && InputChannels == other.InputChannels && NumClasses == other.NumClasses &&
        Widths.Count == other.Widths.Count && Widths.All(kv => other.Widths.TryGetValue(kv.Key, out var w) && w == kv.Value);

    /// <inheritdoc />
    public bool Equals(NetworkSpec? other) => other is not null && SameShapeAs(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Arch, Stem, InputChannels, NumClasses, Widths.Count);

    /// <inheritdoc />
    public override string ToString() =>
        $"{Arch}(in={InputChannels}, classes={NumClasses}, widths=[{string.Join(",", Widths.Values.Distinct())}])";
}

/// <summary>
/// JSON form of a <see cref="NetworkSpec"/>: <c>{arch, stem, inputChannels, numClasses, widths: {group: width}}</c>.
/// Also reads the form stored before network families existed (CIFAR ResNets only: <c>stageWidths</c> and
/// <c>blockWidths</c> arrays, no stem), so checkpoints written then still load.
/// </summary>
public sealed class NetworkSpecJsonConverter : JsonConverter<NetworkSpec>
{
    /// <inheritdoc />
    public override NetworkSpec Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var doc = JsonDocument.ParseValue(ref reader);
        var o = doc.RootElement;
        if (o.ValueKind != JsonValueKind.Object) throw new JsonException("a network spec is a JSON object");
        JsonElement? Get(string name) =>
            o.EnumerateObject().Where(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)).Select(p => (JsonElement?)p.Value).FirstOrDefault();
        string? Text(string name) => Get(name) is { ValueKind: JsonValueKind.String } e ? e.GetString() : null;
        int Int(string name) => Get(name) is { ValueKind: JsonValueKind.Number } e && e.TryGetInt32(out var v) ? v : throw new JsonException($"network spec needs an integer '{name}'");

        var arch = Text("arch") ?? throw new JsonException("network spec has no 'arch'");
        var widths = new Dictionary<string, int>(StringComparer.Ordinal);
        if (Get("widths") is { ValueKind: JsonValueKind.Object } w)
        {
            foreach (var p in w.EnumerateObject())
            {
                widths[p.Name] = p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out var v) ? v : throw new JsonException($"width of group '{p.Name}' is not an integer");
            }
        }
        else if (Get("stageWidths") is { ValueKind: JsonValueKind.Array } stages && Get("blockWidths") is { ValueKind: JsonValueKind.Array } blocks)
        {
            // Stored before network families: the CIFAR ResNet's stage and block groups by position.
            var s = 0;
            foreach (var e in stages.EnumerateArray()) widths[$"stage{++s}"] = ReadInt(e, "stage width");
            s = 0;
            foreach (var stage in blocks.EnumerateArray())
            {
                s++;
                if (stage.ValueKind != JsonValueKind.Array) throw new JsonException("blockWidths must be arrays of widths");
                var b = 0;
                foreach (var e in stage.EnumerateArray()) widths[$"layer{s}.{b++}"] = ReadInt(e, "block width");
            }
        }
        else
        {
            throw new JsonException("network spec has no 'widths'");
        }
        string stem;
        try { stem = NetworkFamilies.StemOf(NetworkFamilies.Of(arch), arch, Text("stem")); }
        catch (ArgumentException e) { throw new JsonException(e.Message, e); }
        var dropout = Get("dropout") is { ValueKind: JsonValueKind.Number } d ? d.GetDouble() : 0;
        var multiplier = Get("widthMultiplier") is { ValueKind: JsonValueKind.Number } m ? m.GetDouble() : 1.0;
        return new NetworkSpec
        {
            Arch = arch, Stem = stem, InputChannels = Int("inputChannels"), NumClasses = Int("numClasses"), Widths = widths, Dropout = dropout,
            WidthMultiplier = multiplier,
        };
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, NetworkSpec value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString("arch", value.Arch);
        writer.WriteString("stem", value.Stem);
        writer.WriteNumber("inputChannels", value.InputChannels);
        writer.WriteNumber("numClasses", value.NumClasses);
        if (value.Dropout != 0) writer.WriteNumber("dropout", value.Dropout);
        if (value.WidthMultiplier != 1.0) writer.WriteNumber("widthMultiplier", value.WidthMultiplier);
        writer.WriteStartObject("widths");
        foreach (var (group, width) in value.Widths) writer.WriteNumber(group, width);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static int ReadInt(JsonElement e, string what) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v) ? v : throw new JsonException($"{what} is not an integer");
}

using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Grains.Tests;

/// <summary>The one list of names per spec choice: parsing, help, messages and README all agree with it.</summary>
public sealed class SpecChoicesTests
{
    [Fact]
    public void Names_parse_back_to_their_values_ignoring_case_dashes_and_underscores_and_aliases_still_read()
    {
        foreach (var m in Enum.GetValues<Metric>()) Assert.Equal(m, ContractNames.Parse<Metric>(m.Name()));
        Assert.Equal(Metric.LeastConfidence, ContractNames.Parse<Metric>("Least_Confidence"));
        Assert.Equal(Metric.LeastConfidence, ContractNames.Parse<Metric>("lc"));
        Assert.Equal(Metric.KCenter, ContractNames.Parse<Metric>("coreset"));
        Assert.Equal(SelectorKind.Proxy, ContractNames.Parse<SelectorKind>("proxy"));
        Assert.Null(ContractNames.TryParse<Metric>("1"));
        var e = Assert.Throws<ArgumentException>(() => ContractNames.Parse<PruningMethod>("l1"));
        Assert.Equal("unknown pruning method 'l1'; known: l2, random", e.Message);
    }

    [Fact]
    public void Architecture_names_are_trimmed_and_lower_cased_and_travel_as_strings()
    {
        Assert.Equal("resnet14", new ArchName(" ResNet14 ").Value);
        Assert.Equal("mobilenet_v2", ((ArchName)"MobileNet_V2").Value);
        Assert.Equal(ArchName.ResNet20, new ArchName("RESNET20"));
        Assert.Equal("", default(ArchName).Value);
        Assert.Equal("\"wrn-28-10\"", System.Text.Json.JsonSerializer.Serialize(new ArchName("wrn-28-10")));
        Assert.Equal("resnet18", System.Text.Json.JsonSerializer.Deserialize<ArchName>("\"ResNet18\"").Value);
    }

    [Theory]
    [InlineData("x\n")]
    [InlineData("x\r\n")]
    [InlineData("fm\n")]
    public void An_id_with_a_trailing_newline_is_refused_not_read_as_another_id(string id)
    {
        // "$" matches before a final newline: "x\n" passed as "x" and shared its state file.
        Assert.NotNull(Ids.Problem(id, "experiment id"));
        Assert.Throws<ArgumentException>(() => Storage.ArtifactLayout.Spec(id));
        Assert.Null(Ids.Problem(id.TrimEnd(), "experiment id"));
    }

    [Fact]
    public void Every_metric_has_a_scoring_metric_and_an_undefined_one_is_refused_by_name()
    {
        var mapped = Enum.GetValues<Metric>().Select(Experiments.ExperimentSetup.ScoringMetric).ToArray();
        Assert.Equal(Enum.GetValues<Learning.Scoring.SelectionMetric>().Length, mapped.Distinct().Count());
        var e = Assert.Throws<ArgumentException>(() => Experiments.ExperimentSetup.ScoringMetric((Metric)42));
        Assert.StartsWith("unknown selection metric '42'", e.Message);
    }

    [Fact]
    public void Spec_defaults_are_named_values()
    {
        var d = new ExperimentSpec();
        Assert.Equal(("resnet20", "resnet8", "least-confidence", "l2", "dataset", "pruned"),
            (d.Arch.Value, d.ProxyArch.Value, d.Metric.Name(), d.PruningMethod.Name(), d.LabelSource.Name(), d.Selector.Name()));
    }

    [Fact]
    public void The_README_table_lists_exactly_the_names()
    {
        var readme = File.ReadAllLines(Path.Combine(BuildOutput.RepoRoot, "README.md"));
        string Row(string option) => readme.Single(l => l.StartsWith($"| `{option}`", StringComparison.Ordinal));
        Assert.EndsWith($"; {Learning.Models.NetworkFamilies.Known} |", Row("--arch`, `--proxy-arch"));
        Assert.Equal($"| `--selector` | {ContractNames.List<SelectorKind>()} |", Row("--selector"));
        Assert.Equal($"| `--metric` | {ContractNames.List<Metric>()} |", Row("--metric"));
        Assert.Equal($"| `--pruning` | {ContractNames.List<PruningMethod>()} |", Row("--pruning"));
        Assert.Equal($"| `--label-source` | {ContractNames.List<LabelSource>()} |", Row("--label-source"));
        Assert.Equal($"| `--fusion-source` | {ContractNames.List<FusionSource>()} |", Row("--fusion-source"));
    }

    [Fact]
    public void Import_format_and_resize_names_of_the_console_are_the_silos_registry()
    {
        Assert.Equal(PruneFuse.Learning.Data.Import.ImageSources.Formats.Select(f => f.Name), ImportFormats.Names);
        Assert.Equal(PruneFuse.Learning.Data.Import.ImageImportOptions.ResizePolicies, ImportFormats.ResizePolicies);
        Assert.Equal(PruneFuse.Learning.Data.Import.StreamingImport.DefaultShardBytes, ImportFormats.DefaultShardSize);
    }
}

using System.Runtime.InteropServices;
using PruneFuse.Learning.Export;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Runtime;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Tests;

/// <summary>
/// Weights move both ways between our families and torchvision's own classes (Debian's python3-torchvision 0.14):
/// our exports load with strict=True and give the same logits, and torchvision's state dicts become θ0 here.
/// </summary>
public class TorchvisionInteropTests
{
    private const int Size = 64;
    private static readonly string Script = Path.Combine(AppContext.BaseDirectory, "torchvision_interop.py");

    public TorchvisionInteropTests() => TorchRuntime.EnsureLoaded();

    [Theory]
    [InlineData("resnet18")]
    [InlineData("resnet34")]
    [InlineData("resnet50")]
    [InlineData("mobilenet_v2")]
    [InlineData("vgg16_bn")]
    public void An_export_loads_strictly_into_torchvisions_class_with_the_same_logits(string arch)
    {
        using var dir = new TempDir();
        using var model = Network.Create(NetworkSpec.Dense(arch, 3, 10, stem: "imagenet"), 6);
        NetworkFamilyTests.Perturb(model, 2);
        model.eval();
        var (input, x) = Input(dir, 3, 7);
        using (x)
        {
            NetworkFamilyTests.ScaleLogits(model, x);
            var weights = Path.Combine(dir.Path, "model.pt");
            File.WriteAllBytes(weights, ModelExport.Weights(model, ModelFormat.PyTorch));
            var output = Path.Combine(dir.Path, "logits.f32");
            DebianPython.Run(Script, "load", arch, "10", weights, input, "2", "3", $"{Size}", $"{Size}", output);
            AssertClose(Logits(model, x), ReadFloats(output), arch);
        }
    }

    [Theory]
    [InlineData("resnet18")]
    [InlineData("resnet50")]
    [InlineData("mobilenet_v2")]
    [InlineData("vgg11_bn")]
    public void A_state_dict_written_by_torchvision_becomes_theta0_with_torchvisions_logits(string arch)
    {
        using var dir = new TempDir();
        var (input, x) = Input(dir, 3, 8);
        using (x)
        {
            var weights = Path.Combine(dir.Path, "torchvision.pt");
            var output = Path.Combine(dir.Path, "logits.f32");
            DebianPython.Run(Script, "make", arch, "10", "3", weights, input, "2", "3", $"{Size}", $"{Size}", output);
            using var model = Network.Create(NetworkSpec.Dense(arch, 3, 10, stem: "imagenet"), 1);
            var notes = InitialWeights.Apply(model, InitialWeights.Read(File.ReadAllBytes(weights), weights), weights);
            Assert.Empty(notes);
            model.eval();
            AssertClose(Logits(model, x), ReadFloats(output), arch);
        }
    }

    [Fact]
    public void ImageNet_weights_for_gray_images_replace_the_classifier_and_sum_the_stem_and_say_so()
    {
        using var dir = new TempDir();
        var state = TorchvisionState(dir, "resnet18", 1000, "imagenet.pt");
        using var model = Network.Create(NetworkSpec.Dense("resnet18", 1, 10, stem: "small"), 5);
        // The small stem is a 3×3 convolution, torchvision's a 7×7 one: refused by name, not silently cropped.
        var stem = Assert.Throws<ArgumentException>(() => InitialWeights.Apply(model, state, "imagenet.pt"));
        Assert.Contains("tensor 'conv1.weight' has shape [64, 3, 7, 7], resnet18 at these widths needs [64, 1, 3, 3]", stem.Message);

        using var gray = Network.Create(NetworkSpec.Dense("resnet18", 1, 10, stem: "imagenet"), 5);
        using var grayBefore = Network.Create(NetworkSpec.Dense("resnet18", 1, 10, stem: "imagenet"), 5);
        var notes = InitialWeights.Apply(gray, state, "imagenet.pt");
        Assert.Contains("classifier 'fc' replaced: imagenet.pt has 1000 classes, the dataset 10; the new one starts from the seed", notes);
        Assert.Contains("stem 'conv1' summed over the 3 input channels of imagenet.pt for 1-channel images", notes);
        Assert.True(Identical(gray.state_dict()["fc.weight"], grayBefore.state_dict()["fc.weight"]), "the replaced classifier keeps the seeded values");
        using var summed = state["conv1.weight"].sum(1, keepdim: true);
        Assert.True(Identical(gray.state_dict()["conv1.weight"], summed));
        Assert.True(Identical(gray.state_dict()["layer4.1.bn2.running_var"], state["layer4.1.bn2.running_var"]));
    }

    [Fact]
    public void Weights_of_another_network_are_refused_naming_the_first_key_at_fault()
    {
        using var dir = new TempDir();
        var state = TorchvisionState(dir, "resnet34", 10, "r34.pt");
        using var r18 = Network.Create(NetworkSpec.Dense("resnet18", 3, 10, stem: "imagenet"), 5);
        var extra = Assert.Throws<ArgumentException>(() => InitialWeights.Apply(r18, state, "r34.pt"));
        Assert.Contains("r34.pt: tensor 'layer1.2.bn1.bias' is not part of resnet18 (stem imagenet)", extra.Message);
        using var half = Network.Create(NetworkSpec.Dense("resnet34", 3, 10, 0.5, stem: "imagenet"), 5);
        var shape = Assert.Throws<ArgumentException>(() => InitialWeights.Apply(half, state, "r34.pt"));
        Assert.Contains("tensor 'conv1.weight' has shape [64, 3, 7, 7], resnet34 at these widths needs [32, 3, 7, 7]", shape.Message);
        state.Remove("layer4.2.conv2.weight");
        using var full = Network.Create(NetworkSpec.Dense("resnet34", 3, 10, stem: "imagenet"), 5);
        var missing = Assert.Throws<ArgumentException>(() => InitialWeights.Apply(full, state, "r34.pt"));
        Assert.Contains("r34.pt has no tensor 'layer4.2.conv2.weight' that resnet34 needs (shape [512, 512, 3, 3])", missing.Message);
        var junk = Assert.Throws<Data.DataFormatException>(() => InitialWeights.Read("not a state dict at all"u8.ToArray(), "junk.pt"));
        Assert.Contains("junk.pt", junk.Message);
        Assert.Contains("neither a safetensors file nor a PyTorch state dict", junk.Message);
    }

    [Theory]
    [InlineData("resnet18", "small", 1.0, 32)]
    [InlineData("resnet50", "imagenet", 0.25, 64)]
    [InlineData("wrn-16-4", "small", 0.5, 32)]
    [InlineData("mobilenet_v2", "small", 0.5, 32)]
    [InlineData("vgg11_bn", "imagenet", 0.125, 32)]
    public void A_pruned_selector_loads_into_the_generic_python_loader(string arch, string stem, double width, int size)
    {
        using var dir = new TempDir();
        using var theta0 = Network.Create(NetworkSpec.Dense(arch, 3, 10, width, stem), 3);
        var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
        using var selector = ChannelPruner.Extract(theta0, plan);
        NetworkFamilyTests.Perturb(selector, 6);
        selector.eval();
        var norm = new Data.ImageNormalization([0.5f, 0.4f, 0.3f], [0.2f, 0.25f, 0.3f]);
        var pixels = new byte[4 * 3 * size * size];
        new Random(2).NextBytes(pixels);
        using (var scope = NewDisposeScope())
        {
            NetworkFamilyTests.ScaleLogits(selector, new Training.BatchPreparer(norm).Prepare(pixels, 4, 3, size, size));
        }
        File.WriteAllBytes(Path.Combine(dir.Path, "s.safetensors"), ModelExport.Weights(selector, ModelFormat.Safetensors));
        var json = Path.Combine(dir.Path, "s.json");
        File.WriteAllText(json, ModelExport.Describe(selector.Spec, norm, "s.safetensors", ModelFormat.Safetensors));
        var images = Path.Combine(dir.Path, "images.u8");
        File.WriteAllBytes(images, pixels);
        var output = Path.Combine(dir.Path, "logits.f32");
        DebianPython.Run(Path.Combine(BuildOutput.RepoRoot, "tools", "python", "prunefuse_model.py"), json, images, "4", $"{size}", $"{size}", output);
        float[] expected;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            expected = selector.forward(new Training.BatchPreparer(norm).Prepare(pixels, 4, 3, size, size)).data<float>().ToArray();
        }
        AssertClose(expected, ReadFloats(output), $"{arch} p=0.5");
    }

    // A state dict torchvision wrote for its ARCH(num_classes = classes), read as --init-weights reads it.
    private static Dictionary<string, Tensor> TorchvisionState(TempDir dir, string arch, int classes, string name)
    {
        var (input, x) = Input(dir, 3, 9);
        x.Dispose();
        var weights = Path.Combine(dir.Path, name);
        DebianPython.Run(Script, "make", arch, $"{classes}", "4", weights, input, "2", "3", $"{Size}", $"{Size}", Path.Combine(dir.Path, "l.f32"));
        return InitialWeights.Read(File.ReadAllBytes(weights), name);
    }

    // Random float32 NCHW input [2, C, Size, Size], written for Python and kept as a tensor.
    private static (string Path, Tensor X) Input(TempDir dir, int channels, int seed)
    {
        var x = randn(new long[] { 2, channels, Size, Size }, generator: new Generator((ulong)seed));
        var path = Path.Combine(dir.Path, "input.f32");
        File.WriteAllBytes(path, MemoryMarshal.AsBytes(x.data<float>().ToArray().AsSpan()).ToArray());
        return (path, x);
    }

    private static float[] Logits(Network model, Tensor x)
    {
        using var noGrad = no_grad();
        using var y = model.forward(x);
        return y.data<float>().ToArray();
    }

    private static float[] ReadFloats(string path) => MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(path)).ToArray();

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var diff = expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(diff <= 1e-4, $"{what}: max |Δlogit| = {diff}");
        Assert.True(expected.Max(Math.Abs) > 0.1, $"{what}: logits are not trivially small");
    }
}

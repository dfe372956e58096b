using System.Runtime.InteropServices;
using Google.Protobuf;
using PruneFuse.Learning.Onnx.Format;

namespace PruneFuse.Learning.Onnx;

/// <summary>
/// Writes an ONNX graph node by node: each call adds a node of a standard operator (default domain) and returns
/// the name of its output, so the network reads top to bottom like its forward pass.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    private readonly GraphProto _graph = new();
    private int _next;

    public OnnxGraphBuilder(string name) => _graph.Name = name;

    /// <summary>A float32 constant from raw values (little-endian, as the format wants).</summary>
    public string Floats(string name, ReadOnlySpan<float> values, params long[] dims) =>
        Initializer(name, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(values), dims);

    /// <summary>A float64 constant.</summary>
    public string Doubles(string name, ReadOnlySpan<double> values, params long[] dims) =>
        Initializer(name, TensorProto.Types.DataType.Double, MemoryMarshal.AsBytes(values), dims);

    /// <summary>An int64 constant.</summary>
    public string Longs(string name, ReadOnlySpan<long> values, params long[] dims) =>
        Initializer(name, TensorProto.Types.DataType.Int64, MemoryMarshal.AsBytes(values), dims);

    private string Initializer(string name, TensorProto.Types.DataType type, ReadOnlySpan<byte> raw, long[] dims)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian");
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(raw) };
        t.Dims.AddRange(dims);
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Adds a node; returns its (first) output's name, <paramref name="output"/> or a fresh one.</summary>
    public string Node(string op, string[] inputs, string? output = null, params AttributeProto[] attributes)
    {
        output ??= $"{op.ToLowerInvariant()}_{_next++}";
        var node = new NodeProto { OpType = op, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return output;
    }

    /// <summary>Adds a node with two outputs (TopK's values and indices); returns both names.</summary>
    public (string First, string Second) Node2(string op, string[] inputs, params AttributeProto[] attributes)
    {
        var first = $"{op.ToLowerInvariant()}_{_next++}";
        var second = first + "_1";
        var node = new NodeProto { OpType = op, Name = first };
        node.Input.AddRange(inputs);
        node.Output.Add(first);
        node.Output.Add(second);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return (first, second);
    }

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>Declares a graph input or output: element type and dims (a string dim is symbolic, e.g. "batch").</summary>
    public void Input(string name, TensorProto.Types.DataType type, params object[] dims) => _graph.Input.Add(Value(name, type, dims));

    /// <inheritdoc cref="Input"/>
    public void Output(string name, TensorProto.Types.DataType type, params object[] dims) => _graph.Output.Add(Value(name, type, dims));

    private static ValueInfoProto Value(string name, TensorProto.Types.DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d switch
            {
                string s => new TensorShapeProto.Types.Dimension { DimParam = s },
                int i => new TensorShapeProto.Types.Dimension { DimValue = i },
                long l => new TensorShapeProto.Types.Dimension { DimValue = l },
                _ => throw new ArgumentException($"dimension {d} must be a number or a name"),
            });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    /// <summary>The model: IR version and opset as given, with metadata.</summary>
    public ModelProto Model(long irVersion, long opset, string producerVersion, IReadOnlyDictionary<string, string> metadata)
    {
        var model = new ModelProto { IrVersion = irVersion, ProducerName = "prunefuse", ProducerVersion = producerVersion, Graph = _graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        foreach (var (k, v) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return model;
    }
}

// The Orleans silo host arrives with the cluster issue (#3); until then this entry point says so plainly.
Console.Error.WriteLine("prunefuse-silo: the Orleans silo is not part of this build yet (see issue #3).");
return 2;

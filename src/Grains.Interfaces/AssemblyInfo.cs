// Grain contracts arrive with the cluster issue; the project exists so the layout of DESIGN.md §2 builds.
[assembly: System.CLSCompliant(false)]

export { prepareComponent } from "./prepare.js";
export { ComponentRunner, type PreparedComponent } from "./runner.js";

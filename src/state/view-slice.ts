// What the user is looking at: the selected unit and target token, and the hovered unit.
import type { StateCreator } from 'zustand';
import type { AppState } from './store';

export interface ViewSlice {
  selectedUnit: number | null;
  selectedTarget: number | null;
  /** the result unit under the pointer or keyboard focus (for its drag-along) */
  hoveredUnit: number | null;
  selectUnit(u: number | null): void;
  selectTarget(t: number | null): void;
  hover(unit: number | null): void;
}

export const createViewSlice: StateCreator<AppState, [], [], ViewSlice> = (set) => ({
  selectedUnit: null,
  selectedTarget: null,
  hoveredUnit: null,
  selectUnit: (selectedUnit) => set({ selectedUnit }),
  selectTarget: (selectedTarget) => set({ selectedTarget }),
  hover: (hoveredUnit) => set({ hoveredUnit }),
});
